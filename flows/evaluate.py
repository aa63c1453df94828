"""The evaluate stage as a Prefect flow: best-of-N with every PRM variant against the baselines, intervals, plots,
and champion promotion of the registered challenger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from dreamprm.stages.evaluate import (  # noqa: F401 - re-exported
    SCORER_DIRS,
    discover_fusion,
    discover_scorers,
    registered_prm_dir,
)
from flows._common import progress_reporter, settings


@task(cache_policy=NO_CACHE)
def evaluate_task(problems_path: str, candidates_path: str, executions_path: str | None, scorers: dict[str, str],
                  out_dir: str, split: str | None, challenger: str | None, aggregation: str,
                  n_resamples: int, per_problem: int | str = 0, execution_only: bool = False,
                  hybrid_only_above: int = 0, fusion_dir: str | None = None,
                  probes_path: str | None = None, speed_clock: str = "cpu",
                  prior_path: str | None = None) -> dict[str, Any]:
    from dreamprm.stages.evaluate import run_evaluate

    out = run_evaluate(problems_path, candidates_path, executions_path, scorers, out_dir, split, challenger,
                       aggregation, n_resamples, per_problem,
                       progress=progress_reporter("evaluate-progress", "scoring candidates"),
                       execution_only=execution_only, hybrid_only_above=hybrid_only_above,
                       fusion_dir=fusion_dir, probes_path=probes_path, speed_clock=speed_clock,
                       prior_path=prior_path)
    create_markdown_artifact(key="evaluation-report", markdown=out["markdown"], description="best-of-N evaluation")
    return out


@flow(name="evaluate", log_prints=True)
def evaluate_flow(problems_path: str | None = None, candidates_path: str | None = None,
                  executions_path: str | None = None, out_dir: str | None = None, split: str | None = "eval",
                  challenger: str | None = "prm-weights", aggregation: str = "min",
                  n_resamples: int = 10_000, per_problem: int | str = 0,
                  execution_only: bool = False, hybrid_only_above: int = 0,
                  fusion_dir: str | None = None, probes_path: str | None = None,
                  speed_clock: str = "cpu", prior_path: str | None = None,
                  scorers: str | None = None) -> dict[str, Any]:
    """pass@1 of PRM best-of-N (each saved variant, each aggregation) against random, first, majority vote, the
    example filter and the oracle, with paired bootstrap intervals; reports/ gets JSON, markdown and plots; the
    registered challenger is promoted to champion when it beats the current champion on the same set.
    ``per_problem`` "0,6" evaluates every candidate and the first 6 of each problem in one run;
    ``execution_only`` evaluates the execution-evidence baselines alone (no model is loaded or needed);
    ``hybrid_only_above`` K scores only what the example-filter hybrids need at sizes above K; a fusion model in
    models/fusion/ (``dreamprm fuse``; ``fusion_dir``: another folder, "none": no fusion) is evaluated as ``fusion``
    and ``filter:fusion``; the survivors' probe executions in probes.parquet beside the executions table
    (``dreamprm execute --tests probes``; ``probes_path``: another table, "none": no consensus) add
    ``filter:consensus``, ``filter:consensus>m`` and ``filter:consensus>speed``, whose speed keys read
    ``speed_clock`` ("cpu", chosen on validation, or "wall"); ``prior_path``, a candidates table with recorded
    verdicts (the train side's), adds the generator prior ``prior``, ``filter:prior``, ``consensus>prior`` and
    ``consensus>speedbin>prior``; ``scorers``: a comma list of the saved models to evaluate (default: all)."""
    s = settings()
    problems_path = problems_path or str(s.data_dir / "problems.parquet")
    from dreamprm.data.schema import default_candidates_path

    candidates_path = candidates_path or str(default_candidates_path(s.data_dir))
    executions_path, out_dir = executions_path or str(s.data_dir / "executions.parquet"), out_dir or str(s.reports_dir)
    chosen = {} if execution_only else discover_scorers(s.models_dir, scorers)
    if execution_only or (fusion_dir or "").lower() == "none":
        fusion_dir = None
    elif not fusion_dir:
        fusion_dir = discover_fusion(s.models_dir)
    if (probes_path or "").lower() == "none":
        probes_path = None
    elif not probes_path:  # the probe table beside the executions table it was run from
        default = Path(executions_path).parent / "probes.parquet"
        probes_path = str(default) if default.exists() else None
    return evaluate_task(problems_path, candidates_path, executions_path, chosen, out_dir, split, challenger,
                         aggregation, n_resamples, per_problem, execution_only, hybrid_only_above, fusion_dir,
                         probes_path, speed_clock, prior_path)
