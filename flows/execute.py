"""The execute stage as a Prefect flow: thin tasks over ``dreamprm.execution``.

- Reading the tables is a plain task; running the sandbox batch is one task (its own result cache, keyed by
  (code, tests, limits, harness version), makes a re-run execute only what changed, so Prefect does not cache it).
  Starting the sandbox backend retries (a daemon that is still coming up).
- The executions table is written atomically; verdict distribution and throughput go to MLflow (one stage run) and to
  a Prefect Markdown artifact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from dreamprm import execution as E
from dreamprm.errors import ServiceUnavailable


@task(cache_policy=NO_CACHE)
def read_tables(candidates_path: str, problems_path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from dreamprm.io import read_parquet

    return read_parquet(candidates_path), read_parquet(problems_path)


def _retry_unavailable(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except ServiceUnavailable:
        return True
    except Exception:  # noqa: BLE001
        return False
    return False


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_unavailable, cache_policy=NO_CACHE)
def open_backend(config: E.ExecuteConfig) -> Any:
    return E.open_backend(config)


@task(cache_policy=NO_CACHE)
def run_executions(candidates: pd.DataFrame, problems: pd.DataFrame, config: E.ExecuteConfig, backend: Any,
                   progress: Callable[[int, int, str], None] | None = None) -> tuple[pd.DataFrame, E.ExecutionSummary]:
    return E.execute_candidates(candidates, problems, config, backend=backend, progress=progress)


@task(cache_policy=NO_CACHE)
def write_and_log(executions: pd.DataFrame, summary: E.ExecutionSummary, output: str, config: E.ExecuteConfig,
                  backend_name: str, track: bool) -> str:
    from dreamprm.io import write_parquet
    from dreamprm.validation import validate_executions

    validate_executions(executions)  # GX: the hand-off to label and evaluate
    write_parquet(executions, output)
    if track:
        import mlflow

        from dreamprm.tracking import RunIdentity, stage_run

        with stage_run(RunIdentity(stage="execute"), params={
            "backend": backend_name, "workers": config.workers, "memory_mb": config.memory_mb,
            "test_timeout_s": config.test_timeout_s, "tests": config.tests, "output": output,
            **({"probes": config.probes, "grown_probes": config.grown_probes, "wide_probes": config.wide_probes}
               if config.tests == "probes" else {}),
        }):
            mlflow.log_metrics({k: float(v) for k, v in summary.metrics().items()})
            mlflow.log_text(summary.markdown(), "verdicts.md")
    create_markdown_artifact(key="execute-verdicts", markdown="# Execute: verdicts\n\n" + summary.markdown(),
                             description="verdict distribution and throughput of the execute stage")
    return output


_PROGRESS: list[Callable[[int, int, str], None]] = []


@contextmanager
def progress_callback(fn: Callable[[int, int, str], None]) -> Iterator[None]:
    """Report (done, total, verdict) to `fn` while a flow runs in this process.

    The callback is deliberately not a flow parameter: Prefect records flow parameters as JSON, so flows take only
    serialisable values (paths, names, numbers) and live objects stay out of the parameter record."""
    _PROGRESS.append(fn)
    try:
        yield
    finally:
        _PROGRESS.remove(fn)


def _progress(done: int, total: int, verdict: str) -> None:
    for fn in _PROGRESS[:]:  # a copy: a callback may leave
        fn(done, total, verdict)


@flow(name="execute", log_prints=True, validate_parameters=True)
def execute_flow(candidates_path: str | None = None, problems_path: str | None = None,
                 output_path: str | None = None, backend: str | None = None, workers: int | None = None,
                 tests: str | None = None, limit: int | None = None, track: bool = True,
                 only: str | None = None, survivors_of: str | None = None,
                 probes: int | None = None, grown_probes: int | None = None,
                 wide_probes: int | None = None) -> dict[str, Any]:
    """All candidates of the candidates table -> the executions table (data/executions.parquet by default; with
    ``tests="probes"`` data/probes.parquet, never the table of verdicts the survivors come from).
    ``only``: a table whose ``candidate_id`` column lists the candidates to run (e.g. the step labels: the
    training-side candidates the fusion is fitted on), every other candidate is left out. ``survivors_of``: an
    executions table; only the candidates that passed there run, in problems where two or more did (with
    ``tests="probes"``: the survivors that consensus selection compares). ``probes``: probe inputs per problem,
    plus ``grown_probes`` grown to the statement's size bound and ``wide_probes`` with values widened to its value
    bound.

    Parameters are plain serialisable values; see `progress_callback` for live progress."""
    from dreamprm.settings import get_settings

    s = get_settings()
    from dreamprm.data.schema import default_candidates_path

    candidates_path = candidates_path or str(default_candidates_path(s.data_dir))
    problems_path = problems_path or str(s.data_dir / "problems.parquet")
    config = E.ExecuteConfig.from_settings(s, backend=backend, workers=workers, tests=tests, probes=probes,
                                     grown_probes=grown_probes, wide_probes=wide_probes)
    output_path = output_path or str(s.data_dir / E.default_output_name(config.tests))
    E.check_output_apart(output_path, survivors_of)
    candidates, problems = read_tables(candidates_path, problems_path)
    if only:
        candidates = E.restrict_candidates(candidates, only)
    if survivors_of:
        candidates = E.restrict_to_survivors(candidates, survivors_of)
    if limit:
        candidates = candidates.head(limit)
    sb = open_backend(config)
    try:
        executions, summary = run_executions(candidates, problems, config, sb, _progress)
    finally:
        sb.close()
    write_and_log(executions, summary, output_path, config, sb.name, track)
    get_run_logger().info("executed %d candidates on %s: %s", summary.n, sb.name, dict(summary.verdicts))
    return {"output": str(Path(output_path)), "backend": sb.name, **summary.metrics()}
