"""The train stage (warm-up) as a plain function: step labels of the manifest's train side -> a PRM under
``out_dir`` (accelerate checkpoints, ``final/``), one MLflow run. The CLI and the Prefect flow (``flows/train.py``:
caching by stage identity, progress artifacts) are thin adapters over it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dreamprm.identity import StageParameters, task_call
from dreamprm.settings import get_settings

Progress = Callable[[int, int], None]

# How run_train's parameters (the names of flows/train.py's task too) enter the stage identity, which keys the Prefect
# cache, decides whether a checkpoint may be resumed and tags the MLflow run: the labels by content, the resolved
# configs, the held-out fraction and the ORM switch as config; where the model goes and whether to resume not at all.
TRAIN_PARAMETERS = StageParameters("train", inputs=("labels_path",), neutral=("out_dir", "resume"))


def run_train(labels_path: str, out_dir: str, prm_config: dict[str, Any], train_config: dict[str, Any],
              eval_fraction: float, resume: bool, outcome_only: bool = False,
              progress: Progress | None = None) -> dict[str, Any]:
    """``prm_config``/``train_config`` are the RESOLVED configs (backbone, layers, seed from the settings included),
    so the cache key, which hashes the parameters, changes whenever what is trained changes."""
    call = task_call(locals())  # first: the task's parameters, for the stage identity
    import mlflow

    from dreamprm.errors import InputDataError
    from dreamprm.labeling.mixed import step_label_counts
    from dreamprm.prm.correct import split_by_problem
    from dreamprm.prm.model import PRMConfig, ProcessRewardModel
    from dreamprm.prm.train import TrainConfig, outcome_rows, train_prm
    from dreamprm.tracking import RunIdentity, stage_run

    s = get_settings()
    from dreamprm.validation import read_validated, validate_step_labels

    rows = read_validated(labels_path, validate_step_labels)  # GX when read
    rows = rows[rows["split"] == "train"].reset_index(drop=True)  # meta problems belong to the correction only
    if rows.empty:
        raise InputDataError("no step-label rows on the train side", path=labels_path, field="split",
                             expected="label problems of the train side")
    if outcome_only:
        rows = outcome_rows(rows)
    prm_cfg = PRMConfig.from_dict(prm_config)
    cfg = TrainConfig(**train_config)
    train_rows, eval_rows = (split_by_problem(rows, eval_fraction, cfg.seed)
                             if eval_fraction > 0 and rows["problem_id"].nunique() >= 2 else (rows, None))
    prm = ProcessRewardModel.from_config(prm_cfg, cache_dir=s.cache_dir, seed=cfg.seed)
    ident = RunIdentity(stage="train-orm" if outcome_only else "train", data_version=Path(labels_path).stem,
                        backbone=prm_cfg.backbone, seed=cfg.seed)
    params = {**{f"prm.{k}": v for k, v in prm_cfg.to_dict().items() if k != "template"},
              **{f"train.{k}": v for k, v in asdict(cfg).items()}, "train_rows": len(train_rows),
              "eval_rows": 0 if eval_rows is None else len(eval_rows), **prm.parameter_counts(),
              **{f"labels.{k}": v for k, v in step_label_counts(rows).items()}}
    identity = TRAIN_PARAMETERS.identity(call)
    with stage_run(ident, params=params) as run:
        mlflow.set_tag("dreamprm.identity", identity)
        summary = train_prm(prm, train_rows, eval_rows, cfg, Path(out_dir), resume=resume,
                            log=lambda m, step: mlflow.log_metrics(m, step=step),
                            progress=progress, device=s.prm.device, identity=identity)
        final = Path(out_dir) / "final"
        prm.provenance = {"trained_on": sorted(set(train_rows["problem_id"].astype(str))
                                               | set(() if eval_rows is None else eval_rows["problem_id"].astype(str))),
                          "manifest_digest": (str(rows["manifest_digest"].iloc[0]) if "manifest_digest" in rows
                                              else None),
                          "step_labels": step_label_counts(rows)}
        prm.save_pretrained(final)
        mlflow.set_tag("dreamprm.device", summary["device"])
        mlflow.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, (int, float))})
        mlflow.log_dict(summary, "train_summary.json")
        summary["mlflow_run_id"] = run.info.run_id
    summary["model_dir"] = str(final)
    return summary
