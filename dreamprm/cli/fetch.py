"""Fetch benchmark problems and recorded candidates into validated, versioned tables (placeholder until wired)."""

from __future__ import annotations


def fetch() -> None:
    """Fetch benchmark problems and recorded candidates into validated, versioned tables."""
    raise NotImplementedError
