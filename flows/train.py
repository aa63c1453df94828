"""The train stage (warm-up) as a Prefect flow: PRM on the step labels, checkpoints under models/, metrics to MLflow."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, task

from dreamprm.stages.train import TRAIN_PARAMETERS
from flows._common import cached_stage, inputs_cache_key, progress_reporter, settings


@task(cache_key_fn=inputs_cache_key(TRAIN_PARAMETERS), persist_result=True)
def train_task(labels_path: str, out_dir: str, prm_config: dict[str, Any], train_config: dict[str, Any],
               eval_fraction: float, resume: bool, outcome_only: bool = False) -> dict[str, Any]:
    """``prm_config``/``train_config`` are the RESOLVED configs (backbone, layers, seed from the settings included),
    so the cache key, which hashes the parameters, changes whenever what is trained changes."""
    from dreamprm.stages.train import run_train

    return run_train(labels_path, out_dir, prm_config, train_config, eval_fraction, resume, outcome_only,
                     progress=progress_reporter("train-progress", "PRM warm-up"))


@flow(name="train", log_prints=True)
def train_flow(labels_path: str | None = None, out_dir: str | None = None, epochs: int = 5, lr: float = 1e-4,
               batch_size: int = 4, grad_accum: int = 8, max_steps: int | None = None, loss: str = "mse",
               finetune: str | None = None, num_layers: int | None = None, eval_fraction: float = 0.2,
               resume: bool = True, outcome_only: bool = False, save_every: int = 50,
               head_lr: float | None = None, objective: str = "pointwise", rank_weight: float = 0.5,
               rank_score: str = "min", mixed_precision: str = "no") -> dict[str, Any]:
    """Warm up the PRM on step labels (default data/step_labels.parquet) into models/prm-warmup/ (accelerate
    checkpoints under checkpoints/, the final model under final/); resumes from the newest checkpoint.
    ``outcome_only`` trains the ORM baseline instead (final verdicts only) into models/orm/. ``objective``
    pairwise/listwise adds the within-problem ranking term (dreamprm.prm.train); it is part of the train config, so
    of the stage identity, as is ``mixed_precision`` (no | bf16 | fp16: autocast on a GPU, accelerate's)."""
    s = settings()
    labels_path = labels_path or str(s.data_dir / "step_labels.parquet")
    out_dir = out_dir or str(s.models_dir / ("orm" if outcome_only else "prm-warmup"))
    prm_overrides: dict[str, Any] = {"finetune": finetune} if finetune else {}  # None: settings.prm.finetune
    if num_layers is not None:
        prm_overrides["num_layers"] = num_layers
    train_overrides = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "grad_accum": grad_accum,
                       "head_lr": head_lr, "max_steps": max_steps, "loss": loss, "save_every": save_every,
                       "objective": objective, "rank_weight": rank_weight, "rank_score": rank_score,
                       "mixed_precision": mixed_precision}
    from dreamprm.prm.model import PRMConfig
    from dreamprm.prm.train import TrainConfig

    prm_config = PRMConfig.from_settings(s, **prm_overrides).to_dict()
    train_config = asdict(TrainConfig(seed=s.seed, **train_overrides))
    run = cached_stage(train_task, [Path(out_dir) / "final" / "model.safetensors"])
    return run(labels_path, out_dir, prm_config, train_config, eval_fraction, resume, outcome_only)
