"""Step-score aggregation: one number per candidate from its per-step PRM scores.

The paper's code offers min, mean, last, product and log-odds sum (PAPER.md stage 8). Each has a reason to exist:
- ``min``: a program is only as good as its worst step (a single broken helper sinks it);
- ``mean``: smooths per-step noise, but rewards long programs of mediocre steps;
- ``last``: the score of the full program, i.e. the PRM used as an outcome scorer (what the shipped code evaluates);
- ``product``: the probability that every step is right if steps were independent; punishes length;
- ``log_odds_sum``: sums per-step evidence logit(p); unlike the product, confident steps (p > 0.5) add to the score.

Numerical safety: scores are clipped to ``[EPS, 1 - EPS]`` before logs, so a step scored exactly 0 or 1 gives a
large finite value instead of -inf/inf/NaN, and products of many small scores are computed in log space (no silent
underflow to 0 for realistic step counts). The clipping means exact zeros are ranked like ``EPS``; with EPS = 1e-6 a
single such step costs 13.8 nats, which dominates any realistic difference anyway.

A candidate with no step scores (``None`` or an empty list: the scorer skipped or failed on it) aggregates to NaN;
selection ranks NaN below every scored candidate (see ``select``) rather than guessing a value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from dreamprm.errors import InputDataError, check_choice

EPS = 1e-6

Aggregation = Callable[[np.ndarray], float]


def _clip(scores: np.ndarray) -> np.ndarray:
    return np.clip(scores, EPS, 1.0 - EPS)


def agg_min(scores: np.ndarray) -> float:
    """Smallest step score."""
    return float(np.min(scores))


def agg_mean(scores: np.ndarray) -> float:
    """Arithmetic mean of the step scores."""
    return float(np.mean(scores))


def agg_last(scores: np.ndarray) -> float:
    """Score of the last step (the full program)."""
    return float(scores[-1])


def agg_product(scores: np.ndarray) -> float:
    """Product of the (clipped) step scores, computed as exp(sum(log p)) to avoid underflow."""
    return float(math.exp(float(np.sum(np.log(_clip(scores))))))


def agg_log_odds_sum(scores: np.ndarray) -> float:
    """Sum over steps of logit(p) = log(p / (1 - p)), with p clipped so the sum stays finite."""
    p = _clip(scores)
    return float(np.sum(np.log(p) - np.log1p(-p)))


AGGREGATIONS: dict[str, Aggregation] = {
    "min": agg_min,
    "mean": agg_mean,
    "last": agg_last,
    "product": agg_product,
    "log_odds_sum": agg_log_odds_sum,
}


def get_aggregation(name: str) -> Aggregation:
    """The aggregation registered under ``name``; an OptionError that lists the valid names otherwise (stages call
    it on their option before any work)."""
    check_choice("aggregation", name, list(AGGREGATIONS))
    return AGGREGATIONS[name]


def normalize_scores(step_scores: Any) -> np.ndarray | None:
    """Step scores as a 1-D float array, or None when the candidate is unscored.

    Accepts lists, tuples and numpy arrays (Parquet round-trips lists as arrays); ``None``, a float NaN and an empty
    list all mean "unscored". Scores must be finite and in [0, 1] (sigmoid outputs): anything else is a scorer bug,
    and silently clipping it would hide that bug, so it raises.
    """
    if step_scores is None:
        return None
    if isinstance(step_scores, float) and math.isnan(step_scores):
        return None
    arr = np.asarray(step_scores, dtype=float).reshape(-1)
    if arr.size == 0:
        return None
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
        bad = arr[~np.isfinite(arr) | (arr < 0) | (arr > 1)][:3].tolist()
        raise InputDataError(f"step scores must be finite and within [0, 1], got {bad}", field="step_scores",
                             expected="probabilities from the scorer's sigmoid")
    return arr


def aggregate(step_scores: Sequence[float] | np.ndarray | None, method: str = "min") -> float:
    """Aggregate one candidate's step scores with the named method; NaN when the candidate is unscored."""
    fn = get_aggregation(method)
    arr = normalize_scores(step_scores)
    return float("nan") if arr is None else fn(arr)


def aggregate_many(step_scores: Iterable[Any], method: str = "min") -> np.ndarray:
    """Aggregate a column of step-score lists; returns a float array with NaN for unscored candidates."""
    fn = get_aggregation(method)
    out = []
    for item in step_scores:
        arr = normalize_scores(item)
        out.append(float("nan") if arr is None else fn(arr))
    return np.asarray(out, dtype=float)


def as_probability(method: str, values: np.ndarray) -> np.ndarray:
    """Map aggregated scores onto [0, 1] for calibration.

    min/mean/last/product already are probabilities; the log-odds sum is a logit and goes through the sigmoid
    (it then reads as a naive-Bayes combination of per-step evidence).
    """
    values = np.asarray(values, dtype=float)
    if method == "log_odds_sum":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-values))
    get_aggregation(method)
    return values
