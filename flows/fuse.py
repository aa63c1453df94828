"""The fuse stage as a Prefect flow: fit the learned fusion of execution evidence, program shape and a PRM's score on
training-side candidates the PRM never trained on (``models/fusion/fusion.json``), read by the evaluate stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from dreamprm.stages.fuse import FUSE_PARAMETERS
from flows._common import cached_stage, inputs_cache_key, progress_reporter, settings


@task(cache_key_fn=inputs_cache_key(FUSE_PARAMETERS), persist_result=True)
def fuse_task(labels_path: str, problems_path: str, candidates_path: str, executions_path: str, scorer_dir: str,
              scorer: str, aggregation: str, l2: float, sides: str, out_dir: str,
              survivors_only: bool = False) -> dict[str, Any]:
    from dreamprm.stages.fuse import run_fuse

    return run_fuse(labels_path, problems_path, candidates_path, executions_path, scorer_dir, scorer, aggregation,
                    l2, sides, out_dir, survivors_only,
                    progress=progress_reporter("fuse-progress", f"scoring with {scorer}"))


@flow(name="fuse", log_prints=True)
def fuse_flow(labels_path: str | None = None, problems_path: str | None = None, candidates_path: str | None = None,
              executions_path: str | None = None, scorer: str = "prm-warmup", aggregation: str = "mean",
              l2: float = 1.0, sides: str = "meta", out_dir: str | None = None,
              survivors_only: bool = False) -> dict[str, Any]:
    """Fit the fusion on the labelled candidates of ``sides`` (default meta: problems the warm-up never trained on)
    with the scores of ``models/<scorer>/final`` aggregated by ``aggregation`` (``survivors_only``: only those that
    pass their examples); writes models/fusion/fusion.json."""
    from dreamprm.evaluate.aggregate import get_aggregation

    get_aggregation(aggregation)  # a bad one fails before the cache key hashes the tables and the scorer's folder
    s = settings()
    from dreamprm.data.schema import default_candidates_path

    labels_path = labels_path or str(s.data_dir / "step_labels.parquet")
    problems_path = problems_path or str(s.data_dir / "problems.parquet")
    candidates_path = candidates_path or str(default_candidates_path(s.data_dir))
    executions_path = executions_path or str(s.data_dir / "executions.parquet")
    out_dir = out_dir or str(s.models_dir / "fusion")
    scorer_dir = str(s.models_dir / scorer / "final")
    saved = Path(out_dir) / "fusion.json"
    from dreamprm.evaluate.fusion import saved_settings

    want = {"scorer": scorer, "aggregation": aggregation, "l2": l2, "survivors_only": survivors_only}
    # A cached result stands only for the fusion.json on disk when that file holds the same settings (another run may
    # have written a different fusion into the same folder since).
    run = cached_stage(fuse_task, [saved]) if saved_settings(out_dir) == want else fuse_task.with_options(
        refresh_cache=True)
    return run(labels_path, problems_path, candidates_path, executions_path, scorer_dir, scorer, aggregation, l2,
               sides, out_dir, survivors_only)
