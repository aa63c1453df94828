"""The ``dreamprm`` command line: one command per stage, plus ``info``.

Each stage's command lives in ``dreamprm/cli/<stage>.py`` and is registered below. Commands run the stage's Prefect
flow (imported lazily: ``dreamprm --help`` stays fast), so the CLI, ``dvc repro`` and ``prefect deployment run``
produce the same artifacts.
"""

from __future__ import annotations

import typer

from dreamprm.cli import execute, fetch, info

app = typer.Typer(
    name="dreamprm",
    help="DreamPRM-Code: train process reward models for code and pick the best of N candidate programs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.command("info", help=info.__doc__)(info.info)
app.command("fetch", help=fetch.__doc__)(fetch.fetch)
app.command("execute", help=execute.__doc__)(execute.execute)


def main() -> None:  # pragma: no cover - console entry point
    app()
