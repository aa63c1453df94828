"""Show the effective settings (profile, paths, tracking URIs, backends) and where results and UIs are."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.syntax import Syntax

from dreamprm.cli._common import console


def info(write: Path | None = typer.Option(
        None, "--write", help="write the settings that can change a stage's output (dreamprm.settings."
        "output_settings) to this JSON file, atomically, and print nothing else: dvc.yaml's always-run settings "
        "stage")) -> None:
    """Show the effective settings (profile, paths, tracking URIs, backends) and where results and UIs are."""
    from dreamprm.settings import get_settings

    s = get_settings()
    if write is not None:
        from dreamprm.io import write_json
        from dreamprm.settings import output_settings

        write_json(output_settings(s), write)
        return
    console.print(f"[bold]profile[/]: {s.profile}")
    console.print(f"[bold]data[/]: {s.data_dir}   [bold]models[/]: {s.models_dir}   [bold]reports[/]: {s.reports_dir}")
    console.print(f"[bold]MLflow[/]: {s.tracking.mlflow_tracking_uri}  (UI: `mlflow ui --backend-store-uri "
                  f"{s.tracking.mlflow_tracking_uri}` or `make services`)")
    console.print(f"[bold]Prefect[/]: {s.prefect_api_url or 'ephemeral (no server); `make services` starts one'}")
    try:
        from dreamprm.prm.device import resolve_device

        where = str(resolve_device(s.prm.device))
    except RuntimeError as exc:  # "cuda" asked for where torch sees no GPU: say so here, before a stage fails
        where = f"[red]{exc}[/]"
    console.print(f"[bold]PRM device[/]: {s.prm.device} -> {where}")
    console.print(Syntax(json.dumps(s.model_dump(mode='json'), indent=2), "json"))
