"""Bi-level meta-correction of the noisy step labels; registers the PRM in MLflow as `challenger`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dreamprm.cli._common import handle_errors, print_summary, stage_flow


@handle_errors
def correct(
    mode: str = typer.Option("weights", help="labels (paper) | weights (authors' code) | none (ablation)"),
    labels: Optional[Path] = typer.Option(None, help="step labels (default: data/step_labels.parquet)"),
    warmup: Optional[Path] = typer.Option(None, help="warmed-up PRM (default: models/prm-warmup/final)"),
    output: Optional[Path] = typer.Option(None, help="model folder (default: models/prm-<mode>)"),
    iterations: int = typer.Option(100, help="bi-level iterations"),
    lr: float = typer.Option(1e-4, help="PRM learning rate (paper: 1e-4)"),
    meta_lr: float = typer.Option(1e-2, help="correction variables' learning rate (paper: 1e-2)"),
    register: bool = typer.Option(True, help="register the result in MLflow with alias `challenger`"),
) -> None:
    """Bi-level meta-correction of the noisy step labels; registers the PRM in MLflow as `challenger`."""
    correct_flow = stage_flow("correct")

    out = correct_flow(mode=mode, labels_path=str(labels) if labels else None,
                       warmup_dir=str(warmup) if warmup else None, out_dir=str(output) if output else None,
                       iterations=iterations, lr=lr, meta_lr=meta_lr, register_model=register)
    print_summary(f"correct ({mode})", out)
