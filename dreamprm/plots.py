"""Plots that people would rather look at than read: label distributions and learned corrections.

matplotlib's Agg canvas directly (no pyplot state, safe in worker threads); files written atomically. The evaluation
plots (pass@1 versus N, calibration, per-difficulty bars) live in :mod:`dreamprm.evaluate.report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from dreamprm.io import atomic_path


def new_figure(width: float = 6.0, height: float = 4.0, dpi: int = 110) -> Any:
    """A figure on the Agg canvas, without pyplot: no global backend state, safe in workers and tests."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | Path) -> Path:
    """Write the figure as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)


def label_histogram(soft_labels: Sequence[float], clean_labels: Sequence[float], path: str | Path) -> Path:
    """Histogram of Monte-Carlo step labels next to the clean full-program labels."""
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    bins = [i / 10 for i in range(11)]
    ax.hist(list(soft_labels), bins=bins, alpha=0.7, label=f"Monte-Carlo step labels (n={len(soft_labels)})")
    ax.hist(list(clean_labels), bins=bins, alpha=0.7, label=f"clean full-program labels (n={len(clean_labels)})")
    ax.set_xlabel("label (pass fraction)")
    ax.set_ylabel("count")
    ax.set_title("Step label distribution")
    ax.legend(loc="upper center", fontsize=8)
    return save_png(fig, path)


def corrections_scatter(noisy: Sequence[float], corrected: Sequence[float], weights: Sequence[float], mode: str,
                        path: str | Path) -> Path:
    """Corrected labels (``labels`` mode) or learned weights (``weights`` mode) against the noisy labels."""
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    if mode == "weights":
        ax.scatter(noisy, weights, s=10, alpha=0.6)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_ylabel("learned sample weight")
        ax.set_ylim(-0.05, 2.05)
    else:
        ax.scatter(noisy, corrected, s=10, alpha=0.6)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_ylabel("corrected label")
        ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("noisy Monte-Carlo label")
    ax.set_xlim(-0.05, 1.05)
    ax.set_title(f"Bi-level correction ({mode})")
    return save_png(fig, path)
