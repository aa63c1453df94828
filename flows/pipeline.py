"""The whole pipeline as one Prefect flow: fetch -> generate -> execute -> label -> train -> correct -> fuse -> probe
-> evaluate -> register/promote. Every stage is a subflow with its own caching, so a re-run redoes only what changed (fetch
tables, generations, rollouts and executions are cached by content; training resumes from its checkpoints). Stages
pass artifact paths, not objects. One MLflow parent run holds a nested run per stage.

The defaults are sized for the embedded demo (SmolLM2 on 2 CPU cores, well under 20 minutes); production runs raise
them (from the Prefect UI, where every parameter is editable, or `dreamprm pipeline --help`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows._common import settings


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    release: str | None = None,
    lcb_dir: str | None = None,
    since: str | None = None,
    recorded: list[str] | None = None,
    source: str | None = "humaneval",
    problems_limit: int = 6,
    n: int = 2,
    gen_max_tokens: int = 256,
    rollouts: int = 2,
    rollout_max_tokens: int = 192,
    label_limit: int = 6,
    train_epochs: int = 2,
    train_max_steps: int | None = None,
    correct_modes: list[str] | None = None,
    correct_iterations: int = 4,
    evaluate_split: str | None = "eval",
    challenger_mode: str = "weights",
) -> dict[str, Any]:
    """Run every stage in order; returns each stage's summary, the timings and the MLflow parent run id."""
    import mlflow

    from dreamprm.tracking import RunIdentity, parent_run

    params = dict(locals())
    params.pop("mlflow")
    params.pop("RunIdentity")
    params.pop("parent_run")
    log = get_run_logger()
    s = settings()
    timings: dict[str, float] = {}
    out: dict[str, Any] = {}

    def stage(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        log.info("stage %s ...", name)
        out[name] = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 1)
        return out[name]

    ident = RunIdentity(stage="pipeline", data_version=release or source or "default", policy=s.policy.model,
                        backbone=s.prm.backbone, seed=s.seed)
    with parent_run(ident, params=params) as run:
        _run_stages(stage, params)
        mlflow.log_metrics({f"seconds.{k}": v for k, v in timings.items()})
        out["mlflow_run_id"] = run.info.run_id
    out["timings_s"] = timings
    return out


def _run_stages(stage: Callable[..., Any], p: dict[str, Any]) -> None:
    """The stages in order; ``stage`` runs one subflow, times it and keeps its summary."""
    from dreamprm.data.fetch import FetchConfig
    from flows.correct import correct_flow
    from flows.evaluate import evaluate_flow
    from flows.execute import execute_flow
    from flows.fetch import fetch_flow
    from flows.fuse import fuse_flow
    from flows.generate import generate_flow
    from flows.label import label_flow
    from flows.train import train_flow

    s = settings()
    data = s.data_dir
    fetch_cfg = FetchConfig.from_settings(s, release=p["release"], since=p["since"],
                                          lcb_dir=Path(p["lcb_dir"]) if p["lcb_dir"] else None,
                                          recorded=[Path(r) for r in p["recorded"] or []])
    stage("fetch", fetch_flow, fetch_cfg)
    generated = str(data / "generated.parquet")
    stage("generate", generate_flow, out_path=generated, n=p["n"], max_tokens=p["gen_max_tokens"],
          source=p["source"], limit=p["problems_limit"])
    stage("execute", execute_flow, candidates_path=generated, output_path=str(data / "executions.parquet"))
    stage("label", label_flow, candidates_path=generated, rollouts=p["rollouts"],
          max_tokens=p["rollout_max_tokens"], limit=p["label_limit"])
    stage("train", train_flow, epochs=p["train_epochs"], max_steps=p["train_max_steps"], batch_size=2,
          grad_accum=2, eval_fraction=0.0)
    stage("train-orm", train_flow, epochs=p["train_epochs"], max_steps=p["train_max_steps"], batch_size=2,
          grad_accum=2, eval_fraction=0.0, outcome_only=True)
    for mode in p["correct_modes"] or ["none", "labels", "weights"]:
        stage(f"correct-{mode}", correct_flow, mode=mode, iterations=p["correct_iterations"], batch_size=2,
              meta_batch_size=2, register_model=(mode == p["challenger_mode"]))
    stage("fuse", fuse_flow, candidates_path=generated)  # the fusion of execution evidence and the warm-up's score
    # the example survivors on probe inputs: consensus selection in evaluate (data/probes.parquet)
    stage("probe", execute_flow, candidates_path=generated, output_path=str(data / "probes.parquet"),
          tests="probes", survivors_of=str(data / "executions.parquet"))
    stage("evaluate", evaluate_flow, candidates_path=generated, split=p["evaluate_split"],
          challenger=f"prm-{p['challenger_mode']}")
