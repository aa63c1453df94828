"""The fuse stage as a plain function: fit the learned fusion (:mod:`dreamprm.evaluate.fusion`) of execution evidence,
program shape and one saved PRM's (or the ORM's) score on training-side candidates the PRM never trained on, into
``models/fusion/fusion.json``. The CLI and the Prefect flow (``flows/fuse.py``) are thin adapters over it.

Which candidates: those of the step-labels table on the given sides (default ``meta``: the warm-up PRM trains on the
``train`` side only, so its scores there are what it gives unseen problems), with their official verdicts and their
executions on the statement examples (``dreamprm execute --tests public --only <labels>``). A candidate of the
labels table with no execution is an error naming how many and an example, never a silently smaller fit set.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dreamprm.identity import StageParameters, task_call
from dreamprm.io import read_parquet

Progress = Callable[[int, int], None]

# How run_fuse's parameters (the names of flows/fuse.py's task too) enter the stage identity: the tables and the
# scorer's folder by content, where fusion.json goes not at all.
FUSE_PARAMETERS = StageParameters("fuse", inputs=("labels_path", "problems_path", "candidates_path", "executions_path",
                                                  "scorer_dir"), neutral=("out_dir",))


def run_fuse(labels_path: str, problems_path: str, candidates_path: str, executions_path: str, scorer_dir: str,
             scorer: str, aggregation: str, l2: float, sides: str, out_dir: str, survivors_only: bool = False,
             progress: Progress | None = None) -> dict[str, Any]:
    """``survivors_only``: fit on (and score) only the labelled candidates that pass their examples: what
    ``filter:fusion`` ranks, at a fraction of the scoring cost."""
    call = task_call(locals())  # first: the task's parameters, for the stage identity
    import mlflow

    from dreamprm.data.split import check_disjoint
    from dreamprm.errors import InputDataError
    from dreamprm.evaluate.aggregate import get_aggregation
    from dreamprm.evaluate.fusion import add_fusion_scores, fit_fusion
    from dreamprm.evaluate.scoring import add_prm_scores, evaluation_frame
    from dreamprm.evaluate.stats import ranking_quality
    from dreamprm.prm.device import load_prm
    from dreamprm.tracking import RunIdentity, stage_run

    get_aggregation(aggregation)  # an unknown one fails here, before any table is read
    wanted = [x.strip() for x in sides.split(",") if x.strip()]
    from dreamprm.validation import read_validated, validate_executions, validate_step_labels

    labels = read_validated(labels_path, validate_step_labels)  # GX when read
    ids = set(labels.loc[labels["split"].isin(wanted), "candidate_id"].astype(str))
    if not ids:
        raise InputDataError(f"no labelled candidate on side(s) {wanted}", path=labels_path, field="split",
                             expected=" | ".join(sorted(set(labels["split"].astype(str)))))
    if not Path(executions_path).exists():
        raise InputDataError("the fusion needs the candidates' executions on their statement examples",
                             path=executions_path, field="executions",
                             expected=f"`dreamprm execute --tests public --only {labels_path}` first")
    candidates = read_parquet(candidates_path)
    candidates = candidates[candidates["candidate_id"].astype(str).isin(ids)]
    executions = read_validated(executions_path, validate_executions)  # GX when read
    not_run = sorted(ids - set(executions["candidate_id"].astype(str)))
    if not_run:
        raise InputDataError(f"{len(not_run)} of the {len(ids)} labelled candidates were not executed "
                             f"(e.g. {not_run[:3]})", path=executions_path, field="candidate_id",
                             expected=f"`dreamprm execute --tests public --only {labels_path}`")
    if len(candidates) != len(ids):
        missing = sorted(ids - set(candidates["candidate_id"].astype(str)))
        raise InputDataError(f"{len(missing)} labelled candidates are not in the candidates table (e.g. "
                             f"{missing[:3]})", path=candidates_path, field="candidate_id",
                             expected="the candidates table the labels were made from")
    frame = evaluation_frame(read_parquet(problems_path), candidates, executions)
    if survivors_only:
        from dreamprm.evaluate.fusion import survivor_rows

        frame = frame[survivor_rows(frame)]
        if frame.empty:
            raise InputDataError("no labelled candidate passes its examples: nothing to fit a survivors-only fusion "
                                 "on", path=executions_path, field="examples_passed",
                                 expected="some candidates passing their statement examples")
    prm = load_prm(scorer_dir)
    check_disjoint(frame["problem_id"].astype(str), {scorer: prm.seen_problems()})  # unseen problems only
    # The fit reads no seed (Newton steps from zero): neither the run's tags nor the identity name one.
    ident = RunIdentity(stage="fuse", data_version=Path(labels_path).stem, backbone=prm.config.backbone)
    with stage_run(ident, params={"scorer": scorer, "aggregation": aggregation, "l2": l2, "sides": sides,
                                  "survivors_only": survivors_only, "candidates": len(frame),
                                  "device": str(prm.device)}) as run:
        mlflow.set_tag("dreamprm.identity", FUSE_PARAMETERS.identity(call))
        frame = add_prm_scores(frame, {scorer: prm}, progress=progress)
        fusion = fit_fusion(frame, scorer, aggregation, l2=l2, survivors_only=survivors_only)
        fitted = add_fusion_scores(frame, fusion)
        from dreamprm.evaluate.select import CandidateTable

        table = CandidateTable.from_frame(fitted, {"fusion": ("scores:fusion", "last"),
                                                   "model": (f"scores:{scorer}", aggregation)})
        fit_quality = {m: ranking_quality(table.scores[m], table.passed, table.valid).to_dict()
                       for m in ("fusion", "model")}
        fusion.trained_on["in_sample_ranking"] = fit_quality  # on the fit set: a sanity figure, not an evaluation
        path = fusion.save(out_dir)
        mlflow.log_artifact(str(path))
        mlflow.log_metrics({f"coef.{k}": v for k, v in fusion.coefficients().items()}
                           | {"fit.within_problem_auc.fusion": fit_quality["fusion"]["within_problem_auc"] or 0.0,
                              "fit.within_problem_auc.model": fit_quality["model"]["within_problem_auc"] or 0.0})
    return {"fusion": str(path), "candidates": fusion.trained_on["candidates"],
            "problems": fusion.trained_on["problems"], "problems_mixed": fusion.trained_on["problems_mixed"],
            "coefficients": fusion.coefficients(), "in_sample_ranking": fit_quality, "mlflow_run_id": run.info.run_id}
