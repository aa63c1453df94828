"""Warm up the PRM on step labels (accelerate; resumes from the newest checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dreamprm.cli._common import handle_errors, print_summary, stage_flow


@handle_errors
def train(
    labels: Optional[Path] = typer.Option(None, help="step labels (default: data/step_labels.parquet)"),
    output: Optional[Path] = typer.Option(None, help="model folder (default: models/prm-warmup)"),
    epochs: int = typer.Option(5, help="epochs (paper: 5)"),
    lr: float = typer.Option(1e-4, help="AdamW learning rate (paper: 1e-4)"),
    head_lr: Optional[float] = typer.Option(None, help="learning rate of the new scalar head (default: --lr)"),
    batch_size: int = typer.Option(4, help="per-device batch size"),
    grad_accum: int = typer.Option(8, help="gradient accumulation (effective batch = batch_size x this)"),
    max_steps: Optional[int] = typer.Option(None, help="stop after this many optimiser steps"),
    loss: str = typer.Option("mse", help="mse | bce"),
    finetune: Optional[str] = typer.Option(
        None, help="lora | full | top_k | head (frozen trunk on cached features: the CPU mode); default: settings "
        "prm.finetune (DREAMPRM_PRM__FINETUNE): head in the demo profile, lora in production"),
    num_layers: Optional[int] = typer.Option(None, help="keep this many backbone layers (default: settings)"),
    resume: bool = typer.Option(True, help="continue from the newest checkpoint"),
    save_every: int = typer.Option(50, help="checkpoint every N optimiser steps (a killed run resumes from the last)"),
    outcome_only: bool = typer.Option(False, "--orm", help="train the ORM baseline (final verdicts only) into models/orm"),
    objective: str = typer.Option(
        "pointwise", help="pointwise | pairwise | listwise: pairwise/listwise add a ranking term over the candidates "
        "of each problem (what best-of-N needs; batches then hold whole problems, --batch-size candidates at most)"),
    rank_weight: float = typer.Option(0.5, help="loss = (1 - w) * pointwise + w * ranking term (not pointwise)"),
    rank_score: str = typer.Option("min", help="min | last: the candidate score the ranking term orders"),
    mixed_precision: str = typer.Option("no", help="no | bf16 | fp16: autocast the forward (bf16 for LoRA on a GPU; "
                                        "the PRM's device: DREAMPRM_PRM__DEVICE)"),
) -> None:
    """Warm up the PRM on step labels (accelerate; resumes from the newest checkpoint)."""
    train_flow = stage_flow("train")

    out = train_flow(labels_path=str(labels) if labels else None, out_dir=str(output) if output else None,
                     epochs=epochs, lr=lr, batch_size=batch_size, grad_accum=grad_accum, max_steps=max_steps,
                     loss=loss, finetune=finetune, num_layers=num_layers, resume=resume, outcome_only=outcome_only,
                     save_every=save_every, head_lr=head_lr, objective=objective, rank_weight=rank_weight,
                     rank_score=rank_score, mixed_precision=mixed_precision)
    print_summary("train", out)
