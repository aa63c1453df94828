"""Run the whole pipeline (fetch -> generate -> execute -> label -> train -> correct -> evaluate -> promote)."""

from __future__ import annotations

import time
from typing import List, Optional

import typer

from dreamprm.cli._common import console, handle_errors, stage_flow


def _finish(out: dict, started: float) -> None:
    from rich.table import Table

    from dreamprm.settings import get_settings

    s = get_settings()
    table = Table(title="stage timings (s)")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for name, secs in out.get("timings_s", {}).items():
        table.add_row(name, f"{secs:.1f}")
    console.print(table)
    generated = out.get("generate", {})
    evaluation = out.get("evaluate", {})
    if "share_two_or_more_functions" in generated:
        # The random selector's expected pass@1 is the policy's own pass@1 on the evaluated (held-out) problems.
        policy_pass = evaluation.get("methods", {}).get("random")
        held_out = f"{policy_pass:.3f}" if isinstance(policy_pass, (int, float)) else "n/a"
        console.print(f"policy {s.policy.backend}:{s.policy.model}: pass@1 on the held-out problems {held_out}; "
                      f"{generated['share_two_or_more_functions']:.0%} of candidates have two or more functions")
    if evaluation.get("markdown"):
        console.rule("best-of-N results (pass@1, 95% paired-bootstrap intervals)")
        console.print(evaluation["markdown"])
        console.print(f"promotion: {evaluation.get('promotion')}")
    console.rule(f"done in {time.perf_counter() - started:.0f} s")
    console.print(f"tables: {s.data_dir}   models: {s.models_dir}   report: {s.reports_dir}/report.md")
    console.print("Open the UIs:\n  make services        # Prefect UI http://127.0.0.1:4200, MLflow UI "
                  "http://127.0.0.1:5000\n  or without servers: .venv/bin/mlflow ui --backend-store-uri "
                  f"{s.tracking.mlflow_tracking_uri}")


@handle_errors
def pipeline(
    release: Optional[str] = typer.Option(None, help="LiveCodeBench release (with --lcb-dir or a reachable hub)"),
    lcb_dir: Optional[str] = typer.Option(None, help="folder with LiveCodeBench release files"),
    since: Optional[str] = typer.Option(None, help="keep LiveCodeBench problems from this day (ISO)"),
    recorded: Optional[List[str]] = typer.Option(None, help="folders of recorded *_eval_all.json generations"),
    source: Optional[str] = typer.Option("humaneval", help="generate for problems of this source"),
    problems_limit: int = typer.Option(6, help="problems to generate for, taking the train, meta and eval sides in turn (0 = all)"),
    n: int = typer.Option(2, "--n", "-n", help="candidates per problem"),
    rollouts: int = typer.Option(2, help="Monte-Carlo rollouts per step prefix (paper: 16)"),
    label_limit: int = typer.Option(6, help="candidates to label (0 = all)"),
    train_epochs: int = typer.Option(2, help="warm-up epochs"),
    correct_iterations: int = typer.Option(4, help="bi-level iterations per correction mode"),
    gen_max_tokens: int = typer.Option(256, help="token budget per candidate"),
    rollout_max_tokens: int = typer.Option(192, help="token budget per rollout"),
    train_max_steps: Optional[int] = typer.Option(None, help="cap on warm-up optimiser steps (default: epochs)"),
    correct_modes: Optional[List[str]] = typer.Option(None, help="correction modes to run (repeatable; default "
                                                      "none, labels, weights)"),
    challenger_mode: str = typer.Option("weights", help="the correction mode registered as `challenger`"),
    evaluate_split: str = typer.Option("eval", help="manifest side(s) to evaluate on"),
) -> None:
    """Run the whole pipeline (fetch -> generate -> execute -> label -> train -> correct -> evaluate -> promote)."""
    pipeline_flow = stage_flow("pipeline")

    started = time.perf_counter()
    out = pipeline_flow(release=release, lcb_dir=lcb_dir, since=since, recorded=recorded, source=source,
                        problems_limit=problems_limit, n=n, rollouts=rollouts, label_limit=label_limit,
                        train_epochs=train_epochs, train_max_steps=train_max_steps, correct_modes=correct_modes,
                        correct_iterations=correct_iterations, evaluate_split=evaluate_split,
                        challenger_mode=challenger_mode, gen_max_tokens=gen_max_tokens,
                        rollout_max_tokens=rollout_max_tokens)
    _finish(out, started)


@handle_errors
def demo() -> None:
    """The main job on embedded defaults: HumanEval, the profile's policy and PRM (Qwen2.5-Coder-0.5B through
    llama.cpp, frozen-trunk PRM, on ``prm.device``: a GPU where there is one), the sandbox, every stage, sized by
    the settings' ``demo`` section."""
    from dreamprm.settings import get_settings

    pipeline_flow = stage_flow("pipeline")
    s = get_settings()
    started = time.perf_counter()
    console.rule(f"DreamPRM-Code demo (embedded defaults: ephemeral Prefect, sqlite MLflow, policy "
                 f"{s.policy.backend}:{s.policy.model}, PRM {s.prm.backbone} ({s.prm.finetune}) on device "
                 f"{s.prm.device})")
    out = pipeline_flow(**s.demo.model_dump())
    _finish(out, started)
