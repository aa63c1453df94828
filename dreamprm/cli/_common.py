"""Shared CLI helpers: one console, and turning the project's errors into clear messages with a non-zero exit."""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console

from dreamprm.errors import DreamPRMError

console = Console(stderr=False)
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2


def debug_enabled() -> bool:
    """``dreamprm --debug`` (or DREAMPRM_DEBUG=1): show tracebacks of expected errors too."""
    return os.environ.get("DREAMPRM_DEBUG", "") not in ("", "0", "false")


class ExpectedErrorFilter(logging.Filter):
    """Drops the console records Prefect writes about a task or flow that failed with a DreamPRMError (bad input,
    failed validation, missing service): the traceback and the "Finished in state Failed" lines. The CLI prints the
    error's one clear line itself; the Prefect UI (the API log handler) still gets the full record."""

    def __init__(self) -> None:
        super().__init__()
        from dreamprm import errors

        self.names = tuple(n for n, v in vars(errors).items()
                           if isinstance(v, type) and issubclass(v, DreamPRMError))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], DreamPRMError):
            return False
        if record.name.startswith("prefect"):
            msg = record.getMessage()
            return not any(f"exception {n}" in msg or f"exception: {n}(" in msg for n in self.names)
        return True


def quiet_expected_errors() -> None:
    """Install :class:`ExpectedErrorFilter` on the console handlers Prefect logs to (setting up Prefect's logging
    now, as its first flow run would; later set-ups are incremental and keep the handlers)."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ExpectedErrorFilter) for f in handler.filters):
            handler.addFilter(ExpectedErrorFilter())


def handle_errors(fn: F) -> F:
    """Expected errors (DreamPRMError: bad input, failed validation, missing service) end with ONE clear line in
    red and exit code 2, no traceback (with ``--debug``, the traceback too); anything else is a bug and keeps its
    traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not debug_enabled():
            quiet_expected_errors()
        try:
            return fn(*args, **kwargs)
        except DreamPRMError as exc:
            if debug_enabled():
                import traceback

                traceback.print_exc()
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper  # type: ignore[return-value]


FLOWS_GROUP = "dreamprm.flows"


def stage_flow(name: str) -> Any:
    """The orchestrated adapter of a stage (a Prefect flow, or a helper of one), found through the
    ``dreamprm.flows`` entry points that the ``flows`` package registers (pyproject.toml). ``dreamprm`` never imports
    ``flows`` (the orchestrator depends on the domain library, not the other way round); the stage logic itself is
    in :mod:`dreamprm.stages`."""
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group=FLOWS_GROUP)}
    if name not in found:
        from dreamprm.errors import ServiceUnavailable

        raise ServiceUnavailable(f"no orchestrated stage {name!r} is installed (entry point group {FLOWS_GROUP}: "
                                 f"{sorted(found) or 'none'}); install the project with `make venv` "
                                 "(pip install -e .)")
    return found[name].load()


def print_summary(title: str, summary: dict[str, Any]) -> None:
    """A two-column rich table of a stage's summary (nested values shown as JSON)."""
    import json

    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        if isinstance(value, float):
            text = f"{value:.4g}"
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, default=str)
        else:
            text = str(value)
        table.add_row(key, text)
    console.print(table)
