"""The fetch stage as a Prefect flow: thin tasks over ``dreamprm.data.fetch``.

- Loading tasks are cached on their inputs (``INPUTS + TASK_SOURCE``, results persisted): each takes a fingerprint
  of its input files (path, size, mtime), so a changed file invalidates exactly the task that reads it, and a repeat
  with the same inputs is served from the cache. Merging + validation is cached on the same fingerprints.
- Resolving hub files retries on network errors (HubUnavailable) only; bad input fails at once.
- The MLflow run (counts, validation result, the two tables as mlflow.data dataset inputs) is logged once per data
  hash; writing is skipped when the output folder already holds this data hash. A Markdown artifact shows counts.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

# A fresh ephemeral Prefect API (new PREFECT_HOME: database migrations) can take longer than Prefect's default 20 s
# startup timeout on a busy machine.
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE

from dreamprm.data import fetch as F
from dreamprm.data.livecodebench import HubUnavailable
from flows._common import fingerprint, retry_when

CACHED: dict[str, Any] = {"cache_policy": INPUTS + TASK_SOURCE, "persist_result": True}


@task(retries=2, retry_delay_seconds=1, retry_condition_fn=retry_when(HubUnavailable), cache_policy=NO_CACHE)
def resolve_lcb_files(config: F.FetchConfig) -> list[str]:
    return [str(p) for p in F.lcb_files(config)]


@task(**CACHED)
def load_livecodebench(files: list[str], since: str | None, until: str | None, files_key: str) -> pd.DataFrame:
    from dreamprm.data.livecodebench import load_problems

    return load_problems(files, since=since, until=until)


@task(**CACHED)
def load_humaneval(files_key: str) -> pd.DataFrame:
    from dreamprm.data.humaneval import load_humaneval as load

    return load()


@task(**CACHED)
def load_mbpp(path: str, files_key: str) -> pd.DataFrame:
    from dreamprm.data.humaneval import load_mbpp as load

    return load(path)


@task(**CACHED)
def import_recorded(dirs: list[str], files_key: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    from dreamprm.data.recorded import import_recorded as load

    r = load(dirs)
    return r.problems, r.candidates, r.stats


@task(**CACHED)
def build_tables(config_json: str, files: list[str], keys_json: str, stage_dir: str) -> dict[str, Any]:
    """Load (per-source cached tasks, run only on a miss here), merge, split, validate (GX), summarise, and write
    the tables under ``stage_dir/<data hash>/``. Cached on the config and the input fingerprints; the result is
    small (the summary and two paths), so a repeat reads one small record and runs nothing else."""
    config = F.FetchConfig.model_validate_json(config_json)
    keys = json.loads(keys_json)
    parts = F.Parts()
    if files:
        parts.livecodebench = load_livecodebench(files, config.since, config.until, keys["lcb"])
    if "humaneval" in keys:
        he = load_humaneval(keys["humaneval"])
        parts.humaneval = he if config.humaneval else None
    if config.mbpp:
        parts.mbpp = load_mbpp(str(config.mbpp), keys["mbpp"])
    if config.recorded:
        parts.recorded_problems, parts.recorded_candidates, parts.recorded_stats = import_recorded(
            [str(d) for d in config.recorded], keys["recorded"])
    if config.exclude_recorded:
        from dreamprm.data.recorded import recorded_problem_ids

        parts.excluded_ids = recorded_problem_ids(config.exclude_recorded)
    problems, candidates, summary = F.build(parts, config)
    staged = F.write_outputs(problems, candidates, summary, Path(stage_dir) / summary["data_hash"][:16])
    return {"summary": summary, **{k: str(staged[k]) for k in ("problems", "candidates", "manifest")}}


@task(cache_policy=NO_CACHE)
def write_tables(built: dict[str, Any], summary: dict[str, Any], out_dir: str) -> dict[str, str]:
    """Publish the staged tables into out_dir (skipped when it already holds this data hash)."""
    if F.outputs_current(Path(out_dir), summary["data_hash"]):
        get_run_logger().info("outputs in %s already hold data %s; not rewritten", out_dir, summary["data_version"])
        paths = {"problems": F.PROBLEMS_FILE, "candidates": F.CANDIDATES_FILE, "manifest": F.MANIFEST_FILE,
                 "summary": F.SUMMARY_FILE}
        return {k: str(Path(out_dir) / v) for k, v in paths.items()}
    staged = {k: Path(built[k]) for k in ("problems", "candidates", "manifest")}
    return {k: str(v) for k, v in F.publish(staged, summary, Path(out_dir)).items()}


@task(cache_policy=INPUTS + TASK_SOURCE, persist_result=True)
def log_to_mlflow(summary_json: str, paths: dict[str, str], tracking_uri: str) -> str:
    """One MLflow run per data hash and output location: counts as metrics, the validation result, datasets."""
    import mlflow

    from dreamprm.tracking import RunIdentity, stage_run

    summary = json.loads(summary_json)
    params = {k: v for k, v in summary["config"].items() if v not in (None, [], "")}
    with stage_run(RunIdentity(stage="fetch", data_version=summary["data_version"]), params=params) as run:
        metrics = {"problems": summary["problems"], "candidates": summary["candidates"],
                   "candidates_passing": summary["candidates_passing"],
                   "problems_with_tests": summary["problems_with_tests"],
                   "lcb_codegeneration_candidates": summary["lcb_codegeneration_candidates"],
                   "lcb_codegeneration_passing": summary["lcb_codegeneration_passing"],
                   "validation_success": int(summary["validation"]["success"])}
        for group in ("problems_by_source", "problems_by_source_split", "problems_by_split", "candidates_by_source"):
            metrics.update({f"{group}.{k}".replace("/", "."): v for k, v in summary[group].items()})
        mlflow.log_metrics(metrics)
        mlflow.set_tag("dreamprm.validation", "passed" if summary["validation"]["success"] else "failed")
        mlflow.log_dict(summary["validation"], "validation.json")
        mlflow.log_dict(summary, "fetch_summary.json")
        for name in ("problems", "candidates"):
            df = pd.read_parquet(paths[name])
            warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
            ds = mlflow.data.from_pandas(df, source=str(Path(paths[name]).resolve()), name=name,
                                         digest=summary["data_hash"][:16] if name == "problems" else None)
            mlflow.log_input(ds, context="fetch-output")
        return run.info.run_id


def _markdown(summary: dict[str, Any], paths: dict[str, str]) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in summary["problems_by_source_split"].items())
    v = summary["validation"]
    return (
        f"# fetch: {summary['data_version']}\n\n"
        f"- problems: **{summary['problems']}** ({summary['problems_with_tests']} with tests)\n"
        f"- candidates: **{summary['candidates']}**, passing **{summary['candidates_passing']}**\n"
        f"- LiveCodeBench codegeneration candidates: {summary['lcb_codegeneration_candidates']} "
        f"({summary['lcb_codegeneration_passing']} passing)\n"
        f"- validation: {'passed' if v['success'] else 'FAILED'} "
        f"(problems {v['problems']['evaluated']} expectations, candidates {v['candidates']['evaluated']})\n"
        f"- files: {', '.join(paths.values())}\n\n| source/split | problems |\n| --- | --- |\n{rows}\n"
    )


@flow(name="fetch", log_prints=True)
def fetch_flow(config: F.FetchConfig, log_mlflow: bool = True) -> dict[str, Any]:
    """Fetch benchmark problems and recorded candidates into validated tables; returns the summary."""
    logger = get_run_logger()
    files = resolve_lcb_files(config) if config.release else []
    keys: dict[str, str] = {}
    if files:
        keys["lcb"] = fingerprint(files)
    if config.humaneval or config.recorded:
        from dreamprm.data.humaneval import humaneval_path

        keys["humaneval"] = fingerprint([humaneval_path()])
    if config.mbpp:
        keys["mbpp"] = fingerprint([config.mbpp])
    if config.recorded:
        keys["recorded"] = fingerprint(list(config.recorded), "*.json")
    if config.exclude_recorded:
        keys["exclude_recorded"] = fingerprint(list(config.exclude_recorded), "*.json")
    # Each key also names the fetch code's version (dreamprm.identity.STAGE_CODE: the parsers, the split, the
    # assembly), so an edited parser or split rule is a cache miss here as it is a stale stage to DVC.
    from dreamprm.identity import code_version

    keys = {name: f"{key}|code:{code_version('fetch')}" for name, key in keys.items()} | {
        "code": code_version("fetch")}
    config_json = config.model_dump_json(exclude={"out_dir"})
    from dreamprm.settings import get_settings

    stage_dir = str(get_settings().cache_dir / "fetch")
    args = (config_json, files, json.dumps(keys, sort_keys=True), stage_dir)
    built = build_tables(*args)
    if not all(Path(built[k]).is_file() for k in ("problems", "candidates")):  # the staging folder was cleaned
        built = build_tables.with_options(refresh_cache=True)(*args)
    summary = {**built["summary"], "config": json.loads(config.model_dump_json())}
    paths = write_tables(built, summary, str(config.out_dir))
    logger.info("problems %d (%s), candidates %d (%d passing), validation %s", summary["problems"],
                summary["problems_by_source"], summary["candidates"], summary["candidates_passing"],
                "passed" if summary["validation"]["success"] else "FAILED")
    if log_mlflow:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or get_settings().tracking.mlflow_tracking_uri
        log_to_mlflow(json.dumps(summary, sort_keys=True, default=str), paths, uri)
    create_markdown_artifact(key="fetch-counts", markdown=_markdown(summary, paths),
                             description="fetch stage counts")
    return summary
