"""The train stage (warm-up) as a Prefect flow: PRM on the step labels, checkpoints under models/, metrics to MLflow."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, task

from dreamprm.io import read_parquet
from flows._common import cached_stage, inputs_cache_key, progress_reporter, settings


@task(cache_key_fn=inputs_cache_key("train", "labels_path"), persist_result=True)
def train_task(labels_path: str, out_dir: str, prm_config: dict[str, Any], train_config: dict[str, Any],
               eval_fraction: float, resume: bool, outcome_only: bool = False) -> dict[str, Any]:
    """``prm_config``/``train_config`` are the RESOLVED configs (backbone, layers, seed from the settings included),
    so the cache key, which hashes the parameters, changes whenever what is trained changes."""
    import mlflow

    from dreamprm.errors import InputDataError
    from dreamprm.prm.correct import split_by_problem
    from dreamprm.prm.model import PRMConfig, ProcessRewardModel
    from dreamprm.prm.train import TrainConfig, outcome_rows, train_prm, training_identity
    from dreamprm.tracking import RunIdentity, stage_run

    s = settings()
    rows = read_parquet(labels_path)
    from dreamprm.validation import validate_step_labels

    validate_step_labels(rows)  # GX when read
    if "split" not in rows:
        raise InputDataError("step-label rows have no 'split' column (the manifest side); re-run `dreamprm label`",
                             path=labels_path, field="split", expected="train | meta per row")
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
              "eval_rows": 0 if eval_rows is None else len(eval_rows), **prm.parameter_counts()}
    with stage_run(ident, params=params) as run:
        mlflow.set_tag("dreamprm.identity", training_identity(prm, train_rows, eval_rows, cfg))
        summary = train_prm(prm, train_rows, eval_rows, cfg, Path(out_dir), resume=resume,
                            log=lambda m, step: mlflow.log_metrics(m, step=step),
                            progress=progress_reporter("train-progress", "PRM warm-up"))
        final = Path(out_dir) / "final"
        prm.provenance = {"trained_on": sorted(set(train_rows["problem_id"].astype(str))
                                               | set(() if eval_rows is None else eval_rows["problem_id"].astype(str))),
                          "manifest_digest": str(rows["manifest_digest"].iloc[0]) if "manifest_digest" in rows else None}
        prm.save_pretrained(final)
        mlflow.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, (int, float))})
        mlflow.log_dict(summary, "train_summary.json")
        summary["mlflow_run_id"] = run.info.run_id
    summary["model_dir"] = str(final)
    return summary


@flow(name="train", log_prints=True)
def train_flow(labels_path: str | None = None, out_dir: str | None = None, epochs: int = 5, lr: float = 1e-4,
               batch_size: int = 4, grad_accum: int = 8, max_steps: int | None = None, loss: str = "mse",
               finetune: str = "lora", num_layers: int | None = None, eval_fraction: float = 0.2,
               resume: bool = True, outcome_only: bool = False, save_every: int = 50,
               head_lr: float | None = None) -> dict[str, Any]:
    """Warm up the PRM on step labels (default data/step_labels.parquet) into models/prm-warmup/ (accelerate
    checkpoints under checkpoints/, the final model under final/); resumes from the newest checkpoint.
    ``outcome_only`` trains the ORM baseline instead (final verdicts only) into models/orm/."""
    s = settings()
    labels_path = labels_path or str(s.data_dir / "step_labels.parquet")
    out_dir = out_dir or str(s.models_dir / ("orm" if outcome_only else "prm-warmup"))
    prm_overrides: dict[str, Any] = {"finetune": finetune}
    if num_layers is not None:
        prm_overrides["num_layers"] = num_layers
    train_overrides = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "grad_accum": grad_accum,
                       "head_lr": head_lr, "max_steps": max_steps, "loss": loss, "save_every": save_every}
    from dreamprm.prm.model import PRMConfig
    from dreamprm.prm.train import TrainConfig

    prm_config = PRMConfig.from_settings(s, **prm_overrides).to_dict()
    train_config = asdict(TrainConfig(seed=s.seed, **train_overrides))
    run = cached_stage(train_task, [Path(out_dir) / "final" / "model.safetensors"])
    return run(labels_path, out_dir, prm_config, train_config, eval_fraction, resume, outcome_only)
