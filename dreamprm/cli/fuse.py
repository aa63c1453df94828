"""Fit the learned fusion of execution evidence, program shape and a PRM's score (evaluated as `fusion`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dreamprm.cli._common import handle_errors, print_summary, stage_flow


@handle_errors
def fuse(
    labels: Optional[Path] = typer.Option(None, help="step labels: which candidates, on which side (default: data/step_labels.parquet)"),
    problems: Optional[Path] = typer.Option(None, help="problems table of those candidates (default: data/problems.parquet)"),
    candidates: Optional[Path] = typer.Option(None, help="candidates table (default: data/generated.parquet if it exists, else data/candidates.parquet)"),
    executions: Optional[Path] = typer.Option(None, help="their executions on the statement examples (default: data/executions.parquet)"),
    scorer: str = typer.Option("prm-warmup", help="the saved model whose score is fused: models/<scorer>/final"),
    aggregation: str = typer.Option("mean", help="its step-score aggregation: min|mean|last|product|log_odds_sum"),
    l2: float = typer.Option(1.0, help="L2 penalty on the standardised weights"),
    sides: str = typer.Option("meta", help="manifest side(s) of the labels to fit on; the scorer must not have trained on them"),
    output: Optional[Path] = typer.Option(None, help="folder of fusion.json (default: models/fusion)"),
    survivors_only: bool = typer.Option(False, "--survivors-only", help="fit on (and score) only the candidates "
                                        "that pass their examples: what filter:fusion ranks, at a fraction of the cost"),
) -> None:
    """Fit the learned fusion of execution evidence, program shape and a PRM's score (evaluated as `fusion`)."""
    fuse_flow = stage_flow("fuse")

    out = fuse_flow(labels_path=str(labels) if labels else None, problems_path=str(problems) if problems else None,
                    candidates_path=str(candidates) if candidates else None,
                    executions_path=str(executions) if executions else None, scorer=scorer,
                    aggregation=aggregation, l2=l2, sides=sides, out_dir=str(output) if output else None,
                    survivors_only=survivors_only)
    print_summary("fuse", out)
