"""The correct stage as a Prefect flow: bi-level meta-correction of the warmed-up PRM, registered as `challenger`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from dreamprm.stages.correct import CORRECT_PARAMETERS
from flows._common import cached_stage, inputs_cache_key, progress_reporter, settings


@task(cache_key_fn=inputs_cache_key(CORRECT_PARAMETERS), persist_result=True)
def correct_task(labels_path: str, warmup_dir: str, out_dir: str, overrides: dict[str, Any],
                 register: bool) -> dict[str, Any]:
    """``overrides`` carry the resolved CorrectConfig (seed included); the warm-up folder's contents (its config and
    weights) are an input, so a changed backbone or warm-up recomputes."""
    from dreamprm.stages.correct import run_correct

    return run_correct(labels_path, warmup_dir, out_dir, overrides, register,
                       progress=progress_reporter("correct-progress", f"bi-level correction ({overrides['mode']})"))


@flow(name="correct", log_prints=True)
def correct_flow(mode: str = "weights", labels_path: str | None = None, warmup_dir: str | None = None,
                 out_dir: str | None = None, iterations: int = 100, batch_size: int = 4, meta_batch_size: int = 4,
                 lr: float = 1e-4, meta_lr: float = 1e-2, register_model: bool = True) -> dict[str, Any]:
    """Correct the noisy step labels by meta-learning (mode labels | weights | none) starting from the warmed-up
    PRM, the lower level on the manifest's train problems and the upper level on its meta problems; writes
    models/prm-<mode>/ and registers the result in MLflow with alias `challenger`."""
    s = settings()
    labels_path = labels_path or str(s.data_dir / "step_labels.parquet")
    warmup_dir = warmup_dir or str(s.models_dir / "prm-warmup" / "final")
    out_dir = out_dir or str(s.models_dir / f"prm-{mode}")
    overrides = {"mode": mode, "iterations": iterations, "batch_size": batch_size,
                 "meta_batch_size": meta_batch_size, "lr": lr, "meta_lr": meta_lr, "seed": s.seed}
    from dreamprm.prm.correct import CorrectConfig

    CorrectConfig(**overrides)  # a bad option fails here, before the cache key hashes the warm-up folder
    run = cached_stage(correct_task, [Path(out_dir) / "final" / "model.safetensors"])
    return run(labels_path, warmup_dir, out_dir, overrides, register_model)
