"""The generate stage as a plain function: N Chain-of-Function candidates per problem from the configured policy,
validated (GX) and written atomically. The CLI and the Prefect flow (``flows/generate.py``) are thin adapters."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dreamprm.cache import ContentCache
from dreamprm.generation import GenerateConfig, count_functions, generate_candidates
from dreamprm.identity import StageParameters, task_call
from dreamprm.io import read_parquet, write_parquet
from dreamprm.settings import get_settings

Progress = Callable[[int, int], None]

# How run_generate's parameters enter the stage identity its MLflow run is tagged with (the problems and the split
# manifest beside them by content, where the candidates go not at all). Generations are resumed from the content
# cache: no Prefect cache key.
GENERATE_PARAMETERS = StageParameters("generate", inputs=("problems_path",), neutral=("out_path",))


def select_problems(problems, source: str | None, limit: int, split: str | None):
    """Problems with tests, optionally of one source / split sides (comma list), ``limit`` of them by id taking
    the manifest's sides in turn (0 = all), so a small run has problems to train, correct and evaluate on."""
    from dreamprm.data.split import interleave_sides, select_splits

    df = problems[problems["has_tests"]] if "has_tests" in problems else problems
    if source:
        df = df[df["source"] == source]
    if split:
        df = select_splits(df, split)
    sides = dict(zip(df["problem_id"].astype(str), df["split"])) if "split" in df else {}
    return interleave_sides(df.sort_values("problem_id", kind="stable"), sides, "problem_id", limit)


def run_generate(problems_path: str, out_path: str, config: GenerateConfig, source: str | None, limit: int,
                  split: str | None, progress: Progress | None = None) -> dict[str, Any]:
    call = task_call(locals())  # first: the task's parameters, for the stage identity
    from dreamprm.data.split import SIDES, manifest_path_for, problems_on_sides
    from dreamprm.policy import get_policy

    s = get_settings()
    # The sides come from the split manifest beside the problems, the one every stage reads, not from a column a
    # table may carry from an earlier fetch.
    problems, manifest, _ = problems_on_sides(read_parquet(problems_path), problems_path, split, ",".join(SIDES))
    problems = problems.assign(split=problems["problem_id"].astype(str).map(manifest.sides))
    problems = select_problems(problems, source, limit, None)
    t0 = time.perf_counter()
    with get_policy(s) as policy, ContentCache(s.cache_dir / "results.sqlite") as cache:
        out = generate_candidates(problems, policy, cache, config,
                                  progress=progress)
        model = policy.model
    from dreamprm.validation import validate_generated

    validate_generated(out, problems["problem_id"])  # GX: the hand-off to execute and label
    write_parquet(out, out_path)
    funcs = out["code"].map(count_functions)
    steps = out["step_offsets"].map(lambda o: len(json.loads(o)) - 1)
    summary = {
        "policy": model, "problems": int(problems["problem_id"].nunique()), "candidates": len(out),
        "share_two_or_more_functions": float((funcs >= 2).mean()) if len(out) else 0.0,
        "share_with_code": float((out["code"].str.strip() != "").mean()) if len(out) else 0.0,
        "mean_steps": float(steps.mean()) if len(out) else 0.0,
        "extract_rules": out["extract_rule"].value_counts().to_dict(),
        "seconds": time.perf_counter() - t0, "out": out_path,
    }
    import mlflow

    from dreamprm.tracking import RunIdentity, stage_run

    ident = RunIdentity(stage="generate", data_version=Path(problems_path).stem, policy=model, seed=config.seed)
    with stage_run(ident, params={**config.__dict__, "source": source, "limit": limit, "split": split}):
        mlflow.set_tag("dreamprm.identity", GENERATE_PARAMETERS.identity(
            call, read_beside={"manifest": manifest_path_for(problems_path)}))
        mlflow.log_metrics({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        mlflow.log_dict(summary, "generate_summary.json")
    return summary
