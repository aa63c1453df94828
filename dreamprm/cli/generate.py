"""Generate N Chain-of-Function candidates per problem with the configured policy (settings.policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dreamprm.cli._common import handle_errors, print_summary, stage_flow


@handle_errors
def generate(
    problems: Optional[Path] = typer.Option(None, help="problems table (default: data/problems.parquet)"),
    output: Optional[Path] = typer.Option(None, help="candidates out (default: data/generated.parquet)"),
    n: int = typer.Option(4, "--n", "-n", help="candidates per problem"),
    temperature: float = typer.Option(0.2, help="sampling temperature (paper: 0.2)"),
    max_tokens: int = typer.Option(512, help="token budget per candidate"),
    style: str = typer.Option("cof", help="cof (Chain-of-Function) | plain (LiveCodeBench baseline prompt)"),
    source: Optional[str] = typer.Option(None, help="only problems of this source (livecodebench, humaneval, mbpp)"),
    split: Optional[str] = typer.Option(None, help="only problems of these manifest sides, comma list (train | meta | eval)"),
    limit: int = typer.Option(0, help="only the first N problems by id (0 = all)"),
    seed: int = typer.Option(0, help="sampling seed"),
) -> None:
    """Generate N Chain-of-Function candidates per problem with the configured policy (settings.policy)."""
    generate_flow = stage_flow("generate")

    out = generate_flow(problems_path=str(problems) if problems else None, out_path=str(output) if output else None,
                        n=n, temperature=temperature, max_tokens=max_tokens, style=style, source=source,
                        limit=limit, split=split, seed=seed)
    print_summary("generate", out)
