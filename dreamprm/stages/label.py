"""The label stage as a plain function: Monte-Carlo step labels (policy rollouts judged in the sandbox) or
outcome-propagated labels (``method="outcome"``, recorded candidates whose policy cannot run here) for the train and
meta sides of the split manifest, validated (GX) and written atomically. The CLI and the Prefect flow
(``flows/label.py``) are thin adapters over it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from dreamprm.data.split import manifest_path_for, problems_on_sides, sample_by_problem
from dreamprm.errors import OptionError, check_choice
from dreamprm.identity import StageParameters, task_call
from dreamprm.io import read_parquet, write_parquet
from dreamprm.settings import get_settings

Progress = Callable[[int, int], None]
log = logging.getLogger(__name__)

# How run_label's parameters enter the stage identity its MLflow run is tagged with (the tables by content, the split
# manifest beside the problems too; where the labels go not at all). Rollouts and executions are resumed from the
# content cache, so the flow needs no Prefect cache key.
LABEL_PARAMETERS = StageParameters("label", inputs=("problems_path", "candidates_path", "executions_path",
                                                    "policies_of"), neutral=("out_path",))


def run_label(problems_path: str, candidates_path: str, executions_path: str | None, out_path: str,
               config_dict: dict[str, Any], limit: int, method: str = "montecarlo",
               split: str | None = None, progress: Progress | None = None, per_problem: int = 0,
               montecarlo: int = 0, rollout_tests: str | None = None, policies_of: str | None = None,
               per_policy: int = 0) -> dict[str, Any]:
    """Step labels for the candidates of the train and meta sides. ``limit`` rows at most (0 = all), sides in turn;
    ``per_problem`` > 0 caps each problem's candidates and takes whole problems (:func:`sample_by_problem`).
    ``montecarlo`` > 0 with ``method="outcome"``: that many train-side multi-step candidates get Monte-Carlo labels
    from the local policy instead (:mod:`dreamprm.labeling.mixed`). ``rollout_tests``: the tests rollouts are judged
    on (``public`` = the statement's examples; default the execute settings' choice). ``policies_of``: a candidates
    table; only the candidates of its policies are labelled, at most ``per_policy`` samples of each policy per problem
    (0 = all; :mod:`dreamprm.data.policies`): a PRM for the models it will rank, trained on their own code."""
    call = task_call(locals())  # first: the task's parameters, for the stage identity
    import mlflow

    from dreamprm.cache import ContentCache
    from dreamprm.data.policies import policies_of as policies_of_table
    from dreamprm.data.policies import select_policies
    from dreamprm.execution import ExecuteConfig, SandboxJudge, final_verdicts, problem_tests
    from dreamprm.labeling import MCLabelConfig, label_candidates, outcome_step_labels
    from dreamprm.labeling.mixed import multi_step_sample, overlay, step_label_counts
    from dreamprm.plots import label_histogram
    from dreamprm.policy import get_policy
    from dreamprm.tracking import RunIdentity, stage_run

    check_choice("method", method, ("outcome", "montecarlo"))
    check_choice("rollout_tests", rollout_tests, (None, "all", "public", "private"))
    if montecarlo < 0:
        raise OptionError("montecarlo", montecarlo, "0 or more candidates")
    if montecarlo and method != "outcome":
        raise OptionError("montecarlo", montecarlo, "--method outcome, or --montecarlo 0",
                          message=f"--montecarlo {montecarlo} adds Monte-Carlo labels to --method outcome; with "
                                  "--method montecarlo every candidate is rolled out already")
    s = get_settings()
    cfg = MCLabelConfig(seed=s.seed, **config_dict)
    problems = read_parquet(problems_path)
    from dreamprm.validation import read_validated, validate_candidate_pool, validate_executions, validate_step_labels

    candidates = read_validated(candidates_path, validate_candidate_pool)  # GX when read
    # The executions table may hold other candidates' rows too (by default data/executions.parquet, which a project
    # labelling another folder's candidates shares): only these candidates' verdicts are looked up in it, and a row
    # of one of them must be on its problem.
    of_candidates = partial(validate_executions, candidates=candidates)
    executions = (read_validated(executions_path, of_candidates)  # GX when read
                  if executions_path and Path(executions_path).exists() else None)
    # The split manifest beside the problems decides which problems are labelled (train and meta: what training and
    # correction read) and stamps each row with its side, so later stages never re-derive it.
    problems, manifest, sides = problems_on_sides(problems, problems_path, split, "train,meta")
    candidates = candidates[candidates["problem_id"].isin(problems["problem_id"])]
    policies = policies_of_table(read_parquet(policies_of), policies_of) if policies_of else []
    candidates = select_policies(candidates, policies, per_policy, candidates_path)
    verdicts = final_verdicts(candidates, executions)
    has_verdict = candidates["candidate_id"].astype(str).isin(verdicts)
    without_verdict = candidates.loc[~has_verdict, "candidate_id"].astype(str).tolist()
    if without_verdict:  # nothing to label them with: left out, counted in the summary and MLflow, and said here
        log.warning("%d candidates of %s on the labelled sides have no verdict (no official one, not in %s), e.g. "
                    "%s: not labelled", len(without_verdict), candidates_path, executions_path or "no executions",
                    without_verdict[:3])
    candidates = candidates[has_verdict]
    candidates = candidates.sort_values("candidate_id", kind="stable")
    candidates = sample_by_problem(candidates, manifest.sides, per_problem, limit)
    t0 = time.perf_counter()
    stats = {"new_rollouts": 0, "eligible": 0, "without_tests": 0}

    def rollout_labels(chosen: Any) -> tuple[Any, str]:
        judge = SandboxJudge(ExecuteConfig.from_settings(s, tests=rollout_tests))
        try:
            with get_policy(s) as policy, ContentCache(s.cache_dir / "results.sqlite") as cache:
                out = label_candidates(problems, chosen, verdicts, policy, judge, cache, cfg, progress=progress,
                                       stats=stats)
                return out, policy.model
        finally:
            judge.close()

    if method == "montecarlo":
        rows, policy_name = rollout_labels(candidates)
    else:
        rows = outcome_step_labels(problems, candidates, verdicts, max_steps=cfg.max_steps, style=cfg.style)
        policy_name = "recorded"
        if montecarlo:
            # Only candidates whose problem has tests to judge rollouts on; the others keep their outcome labels and
            # are counted, never silently left out.
            which = ExecuteConfig.from_settings(s, tests=rollout_tests).tests
            judgeable = [str(p["problem_id"]) for p in problems.to_dict("records") if problem_tests(p, which)]
            eligible = multi_step_sample(rows, manifest.sides, len(rows), judgeable)
            stats["eligible"] = len(eligible)
            stats["without_tests"] = len(multi_step_sample(rows, manifest.sides, len(rows))) - len(eligible)
            chosen = eligible[:montecarlo]
            if chosen:
                mc_rows, local = rollout_labels(candidates[candidates["candidate_id"].astype(str).isin(chosen)])
                rows = overlay(rows, mc_rows)
                policy_name = f"recorded+{local}"
    rows["split"] = rows["problem_id"].astype(str).map(manifest.sides)
    rows["manifest_digest"] = manifest.digest
    validate_step_labels(rows)  # GX: the hand-off to train and correct
    write_parquet(rows, out_path)
    noisy = [y for labels, clean in zip(rows["soft_labels"], rows["clean"]) for y, c in zip(labels, clean) if not c]
    final = [y for labels, clean in zip(rows["soft_labels"], rows["clean"]) for y, c in zip(labels, clean) if c]
    summary = {
        "candidates": len(rows), "noisy_step_labels": len(noisy),
        "mean_noisy_label": sum(noisy) / len(noisy) if noisy else 0.0,
        "mean_clean_label": sum(final) / len(final) if final else 0.0,
        "mean_steps": float(rows["completions"].map(len).mean()) if len(rows) else 0.0,
        "problems": int(rows["problem_id"].nunique()) if len(rows) else 0, "policies": len(policies),
        **step_label_counts(rows),
        "rollouts": int(sum(sum(c) for c in rows["rollout_counts"])), "new_rollouts": stats["new_rollouts"],
        "montecarlo_eligible": stats["eligible"], "montecarlo_skipped_no_tests": stats["without_tests"],
        "candidates_without_verdict": len(without_verdict),
        **{f"candidates_{side}": int((rows["split"] == side).sum()) for side in ("train", "meta")},
        **{k: v for k, v in stats.items() if k.startswith("rollouts_")},
        "seconds": time.perf_counter() - t0,
    }
    ident = RunIdentity(stage="label", data_version=Path(candidates_path).stem, policy=policy_name, seed=s.seed)
    with stage_run(ident, params={**asdict(cfg), "limit": limit, "per_problem": per_problem, "method": method,
                                  "split": ",".join(sides), "montecarlo": montecarlo,
                                  "rollout_tests": rollout_tests or "", "policies": ",".join(policies),
                                  "per_policy": per_policy, "manifest_digest": manifest.digest}):
        mlflow.set_tag("dreamprm.identity", LABEL_PARAMETERS.identity(
            call, read_beside={"manifest": manifest_path_for(problems_path)}))
        mlflow.log_metrics(summary)
        plot = label_histogram(noisy, final, Path(out_path).with_suffix(".hist.png"))
        mlflow.log_artifact(str(plot))
    return {**summary, "out": out_path}
