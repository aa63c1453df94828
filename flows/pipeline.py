"""The whole pipeline as one Prefect flow: fetch -> generate -> execute -> label -> train -> correct -> evaluate ->
register/promote. Every stage is a subflow with its own caching, so a re-run redoes only what changed (fetch
tables, generations, rollouts and executions are cached by content; training resumes from its checkpoints).

The defaults are sized for the embedded demo (SmolLM2 on 2 CPU cores, about 20 minutes); production runs raise them
(from the Prefect UI, where every parameter is editable, or `dreamprm pipeline --help`).
"""

from __future__ import annotations

import time
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
    problems_limit: int = 4,
    n: int = 2,
    gen_max_tokens: int = 256,
    rollouts: int = 2,
    rollout_max_tokens: int = 192,
    label_limit: int = 6,
    train_epochs: int = 2,
    train_max_steps: int | None = None,
    correct_modes: list[str] | None = None,
    correct_iterations: int = 4,
    evaluate_split: str | None = "test",
    challenger_mode: str = "weights",
) -> dict[str, Any]:
    """Run every stage in order; returns each stage's summary and the evaluation table."""
    from dreamprm.data.fetch import FetchConfig
    from flows.correct import correct_flow
    from flows.evaluate import evaluate_flow
    from flows.execute import execute_flow
    from flows.fetch import fetch_flow
    from flows.generate import generate_flow
    from flows.label import label_flow
    from flows.train import train_flow

    log = get_run_logger()
    s = settings()
    data = s.data_dir
    timings: dict[str, float] = {}
    out: dict[str, Any] = {}

    def stage(name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        log.info("stage %s ...", name)
        result = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t0, 1)
        out[name] = result
        return result

    fetch_cfg = FetchConfig.from_settings(s, release=release, lcb_dir=Path(lcb_dir) if lcb_dir else None, since=since,
                                          recorded=[Path(r) for r in recorded or []])
    stage("fetch", fetch_flow, fetch_cfg)
    generated = str(data / "generated.parquet")
    stage("generate", generate_flow, out_path=generated, n=n, max_tokens=gen_max_tokens, source=source,
          limit=problems_limit)
    stage("execute", execute_flow, candidates_path=generated, output_path=str(data / "executions.parquet"))
    stage("label", label_flow, candidates_path=generated, rollouts=rollouts, max_tokens=rollout_max_tokens,
          limit=label_limit)
    stage("train", train_flow, epochs=train_epochs, max_steps=train_max_steps, batch_size=2, grad_accum=2,
          eval_fraction=0.0)
    for mode in correct_modes or ["none", "labels", "weights"]:
        stage(f"correct-{mode}", correct_flow, mode=mode, iterations=correct_iterations, batch_size=2,
              meta_batch_size=2, register_model=(mode == challenger_mode))
    stage("evaluate", evaluate_flow, candidates_path=generated, split=evaluate_split,
          challenger=f"prm-{challenger_mode}")
    out["timings_s"] = timings
    return out
