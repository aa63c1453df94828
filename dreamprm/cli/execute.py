"""Run every candidate against its tests in the sandbox (placeholder until wired)."""

from __future__ import annotations


def execute() -> None:
    """Run every candidate against its tests in the sandbox."""
    raise NotImplementedError
