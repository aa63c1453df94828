"""Errors that tell the user exactly what is wrong: which file, which line/row, which field, what was expected."""

from __future__ import annotations

from pathlib import Path


class DreamPRMError(Exception):
    """Base class: the CLI prints these as a clear message and exits non-zero, without a traceback."""


class InputDataError(DreamPRMError):
    """Bad input data. Carries the location so that the message names it."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.expected = expected
        where = []
        if self.path:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if field:
            where.append(f"field {field!r}")
        text = (": ".join([", ".join(where), message]) if where else message)
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class OptionError(InputDataError, ValueError):
    """A bad option value (a stage's config or a CLI flag): names the option, the value given and what is allowed.
    Raised where the config is built, before any table is read or model loaded; a ValueError as well, for callers
    of the library that catch that."""

    def __init__(self, option: str, value: object, expected: str, message: str | None = None) -> None:
        super().__init__(message or f"unknown or out-of-range value {value!r}", field=option, expected=expected)


def check_choice(option: str, value: object, allowed: tuple | list) -> None:
    """Raise :class:`OptionError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise OptionError(option, value, " | ".join(map(str, allowed)))


class ValidationFailed(DreamPRMError):
    """A Great Expectations suite failed; ``report`` names the failing expectations and rows, ``path`` (when the table
    was read from a file) the file."""

    def __init__(self, suite: str, report: str, *, path: str | Path | None = None) -> None:
        self.suite = suite
        self.report = report
        self.path = str(path) if path is not None else None
        where = f" for {self.path}" if self.path else ""
        super().__init__(f"validation suite {suite!r} failed{where}:\n{report}")


class ServiceUnavailable(DreamPRMError):
    """A server or backend that a stage needs does not answer; the message says how to start it."""
