"""Run every candidate against its tests in the sandbox (Docker pool, else bubblewrap; never unsandboxed)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dreamprm.cli._common import console, handle_errors, stage_flow


@handle_errors
def execute(
    candidates: Optional[Path] = typer.Option(None, help="candidates table (default: data/generated.parquet if it exists, else data/candidates.parquet)"),
    problems: Optional[Path] = typer.Option(None, help="problems table (default: data/problems.parquet)"),
    output: Optional[Path] = typer.Option(None, help="executions table (default: data/executions.parquet; with --tests probes, data/probes.parquet)"),
    backend: Optional[str] = typer.Option(None, help="auto | docker | bwrap (default: settings.sandbox.backend)"),
    workers: Optional[int] = typer.Option(None, help="parallel sandboxes (default: number of cores)"),
    tests: Optional[str] = typer.Option(None, help="all | public (the statement's examples when a problem has no public tests) | private | probes (inputs derived from the examples, no expected outputs: for consensus selection)"),
    probes: Optional[int] = typer.Option(None, help="probe inputs per problem with --tests probes (default 8)"),
    grown_probes: Optional[int] = typer.Option(None, help="further probes grown to the statement's size bound, at most 20,000 (default 2; 0: none)"),
    wide_probes: Optional[int] = typer.Option(None, help="further probes with the example's values widened to the statement's value bound (default 2; 0: none)"),
    survivors_of: Optional[Path] = typer.Option(None, help="run only the candidates that passed in this executions table, in problems where two or more did (the survivors consensus compares)"),
    limit: Optional[int] = typer.Option(None, help="only the first N candidates (smoke runs)"),
    track: bool = typer.Option(True, help="log the run to MLflow"),
    only: Optional[Path] = typer.Option(None, help="run only the candidates listed in this table's candidate_id column (e.g. data/step_labels.parquet)"),
) -> None:
    """Run every candidate against its tests in the sandbox (Docker pool, else bubblewrap; never unsandboxed)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    execute_flow, progress_callback = stage_flow("execute"), stage_flow("execute-progress")

    with Progress(TextColumn("[bold]execute"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeRemainingColumn(), console=console, transient=False) as bar:
        tid = bar.add_task("", total=None)
        counts: dict[str, int] = {}

        def progress(done: int, total: int, verdict: str) -> None:
            counts[verdict] = counts.get(verdict, 0) + 1
            bar.update(tid, completed=done, total=total,
                       description=" ".join(f"{k}={v}" for k, v in sorted(counts.items())))

        with progress_callback(progress):
            out = execute_flow(
                candidates_path=str(candidates) if candidates else None,
                problems_path=str(problems) if problems else None,
                output_path=str(output) if output else None,
                backend=backend, workers=workers, tests=tests, limit=limit, track=track,
                only=str(only) if only else None,
                survivors_of=str(survivors_of) if survivors_of else None, probes=probes,
                grown_probes=grown_probes, wide_probes=wide_probes,
            )
    console.print(f"[green]wrote[/] {out['output']} ({int(out['candidates'])} candidates on {out['backend']}, "
                  f"{out['candidates_per_s']:.2f} candidates/s, pass rate {out['pass_rate']:.1%})")
