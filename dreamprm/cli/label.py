"""Monte-Carlo step labels: roll the policy out from every step prefix and run the rollouts in the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dreamprm.cli._common import handle_errors, print_summary, stage_flow


@handle_errors
def label(
    candidates: Optional[Path] = typer.Option(None, help="candidates table (default: data/generated.parquet if it exists, else data/candidates.parquet)"),
    problems: Optional[Path] = typer.Option(None, help="problems table (default: data/problems.parquet)"),
    executions: Optional[Path] = typer.Option(None, help="their verdicts (default: data/executions.parquet)"),
    output: Optional[Path] = typer.Option(None, help="step labels out (default: data/step_labels.parquet)"),
    rollouts: int = typer.Option(16, help="rollouts per prefix (paper: 16)"),
    temperature: float = typer.Option(0.3, help="rollout temperature (paper: 0.3)"),
    max_tokens: int = typer.Option(1024, help="token budget per rollout"),
    max_steps: int = typer.Option(10, help="at most this many steps per candidate"),
    limit: int = typer.Option(0, help="only the first N candidates in id order (ids are content hashes: a uniform sample; 0 = all)"),
    per_problem: int = typer.Option(0, help="at most K candidates of each problem, whole problems taken in a hashed "
                                    "order (sides in turn) until --limit: several per problem for a within-problem "
                                    "objective, each statement encoded once for all of them (0 = sample candidates)"),
    method: str = typer.Option("montecarlo", help="montecarlo (policy rollouts in the sandbox) | outcome (the final "
                               "verdict on every step: recorded candidates whose policy cannot run here)"),
    split: Optional[str] = typer.Option(None, help="manifest sides to label, comma list (default train,meta: warm-up and the correction's meta set)"),
    montecarlo: int = typer.Option(0, help="with --method outcome: Monte-Carlo label this many train-side candidates of "
                                   "two or more steps with the local policy (rollouts from each recorded prefix)"),
    rollout_tests: Optional[str] = typer.Option(None, help="tests the rollouts are judged on: all | public (the "
                                                "statement's examples) | private (default: the sandbox settings')"),
    policies_of: Optional[Path] = typer.Option(None, help="a candidates table (e.g. the test's): label only the "
                                               "candidates of its policies, a PRM for the models it will rank"),
    per_policy: int = typer.Option(0, help="at most K samples of each policy per problem, lowest sample_index "
                                   "first (0 = all)"),
) -> None:
    """Monte-Carlo step labels: roll the policy out from every step prefix and run the rollouts in the sandbox.
    Resumable: finished rollouts and executions are cached by content hash."""
    label_flow = stage_flow("label")

    out = label_flow(problems_path=str(problems) if problems else None,
                     candidates_path=str(candidates) if candidates else None,
                     executions_path=str(executions) if executions else None,
                     out_path=str(output) if output else None, rollouts=rollouts, temperature=temperature,
                     max_tokens=max_tokens, max_steps=max_steps, limit=limit,
                     method=method, split=split, per_problem=per_problem, montecarlo=montecarlo,
                     rollout_tests=rollout_tests, policies_of=str(policies_of) if policies_of else None,
                     per_policy=per_policy)
    print_summary("label", out)
