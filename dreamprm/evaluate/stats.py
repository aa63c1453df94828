"""Paired bootstrap over problems: intervals for pass@1 and for the difference between two methods.

Why paired: every method is run on the same problems, and problem difficulty dominates the variance (an easy problem
is solved by everyone). Resampling problem ids once and scoring every method on that same resample cancels that
shared variance in the differences, which is what makes "the PRM beats random by 3 points" testable on ~175 problems.

Why problems and not candidates: the unit of the claim is a problem (pass@1 averages over problems); candidates of one
problem are strongly correlated, so resampling them would overstate the precision.

Mechanics: a resample of P problems drawn with replacement is a vector of counts (how often each problem was drawn),
multinomial(P, 1/P). The resampled means of all methods are then one matrix product, counts @ values / P, done in
chunks to bound memory. Intervals are percentile intervals. ``share_le_zero`` is the share of resamples in which
method A does not beat method B (difference <= 0): a one-sided bootstrap p-value-like number for "A is better than B".
It is 1.0 for identical methods by construction (every difference is exactly 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile bootstrap interval at confidence ``level``."""

    estimate: float
    low: float
    high: float
    level: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict[str, float]:
        return {"estimate": float(self.estimate), "low": float(self.low), "high": float(self.high),
                "level": float(self.level)}


@dataclass(frozen=True)
class Difference:
    """Paired difference ``a - b`` of two methods' pass@1, its interval, and the share of resamples with diff <= 0."""

    a: str
    b: str
    interval: Interval
    share_le_zero: float

    @property
    def excludes_zero(self) -> bool:
        return not self.interval.contains(0.0)

    def to_dict(self) -> dict[str, float | str]:
        return {"a": self.a, "b": self.b, **self.interval.to_dict(), "share_le_zero": float(self.share_le_zero)}


@dataclass(frozen=True)
class BootstrapResult:
    """Resampled means of several methods on the SAME resamples: ``samples`` is (n_resamples, n_methods)."""

    methods: tuple[str, ...]
    estimates: np.ndarray
    samples: np.ndarray
    level: float

    def _col(self, method: str) -> int:
        try:
            return self.methods.index(method)
        except ValueError:
            raise KeyError(f"method {method!r} not in bootstrap; have {list(self.methods)}") from None

    def interval(self, method: str) -> Interval:
        j = self._col(method)
        low, high = _percentiles(self.samples[:, j], self.level)
        return Interval(float(self.estimates[j]), low, high, self.level)

    def difference(self, a: str, b: str) -> Difference:
        i, j = self._col(a), self._col(b)
        diff = self.samples[:, i] - self.samples[:, j]
        low, high = _percentiles(diff, self.level)
        est = float(self.estimates[i] - self.estimates[j])
        return Difference(a, b, Interval(est, low, high, self.level), float(np.mean(diff <= 0.0)))


def _percentiles(x: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(x, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_means(values: np.ndarray, n_resamples: int = 10_000, seed: int = 0,
                    chunk_size: int = 2_000) -> np.ndarray:
    """Means of ``values`` (P problems x M methods, or length P) over ``n_resamples`` problem resamples.

    Returns (n_resamples, M) (or (n_resamples,) for 1-D input). The same seed gives the same resamples for any M, so
    bootstraps of different method sets stay paired as long as they use the same seed and problem order.
    """
    v = np.asarray(values, dtype=float)
    one_d = v.ndim == 1
    if one_d:
        v = v[:, None]
    P = v.shape[0]
    if P == 0:
        raise ValueError("bootstrap needs at least one problem")
    if not np.all(np.isfinite(v)):
        raise ValueError("bootstrap values must be finite (missing verdicts should already count as failures)")
    if n_resamples < 1:
        raise ValueError("n_resamples must be >= 1")
    rng = np.random.default_rng(seed)
    probs = np.full(P, 1.0 / P)
    out = np.empty((n_resamples, v.shape[1]))
    for start in range(0, n_resamples, chunk_size):
        stop = min(start + chunk_size, n_resamples)
        counts = rng.multinomial(P, probs, size=stop - start)
        out[start:stop] = counts @ v / P
    return out[:, 0] if one_d else out


def paired_bootstrap(per_problem: pd.DataFrame | Mapping[str, Sequence[float]], n_resamples: int = 10_000,
                     level: float = 0.95, seed: int = 0) -> BootstrapResult:
    """Paired bootstrap of every method's pass@1.

    ``per_problem``: one row per problem, one column per method, values in [0, 1] (as from
    ``CandidateTable.per_problem``); a mapping of equal-length sequences works too.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    df = pd.DataFrame(per_problem)
    values = df.to_numpy(dtype=float)
    samples = bootstrap_means(values, n_resamples=n_resamples, seed=seed)
    return BootstrapResult(tuple(str(c) for c in df.columns), values.mean(axis=0), samples, level)


def paired_difference(a: Sequence[float], b: Sequence[float], n_resamples: int = 10_000, level: float = 0.95,
                      seed: int = 0) -> Difference:
    """Convenience: paired bootstrap of ``mean(a) - mean(b)`` for two aligned per-problem value vectors."""
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired vectors must align, got shapes {a_arr.shape} and {b_arr.shape}")
    res = paired_bootstrap({"a": a_arr, "b": b_arr}, n_resamples=n_resamples, level=level, seed=seed)
    return res.difference("a", "b")


# --------------------------------------------------------------------------------------------------------------------
# Ranking quality of a score: global AUC and within-problem AUC
# --------------------------------------------------------------------------------------------------------------------

def auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """ROC AUC = P(score of a random positive > score of a random negative), ties counting 1/2 (Mann-Whitney U
    from average ranks). NaN scores are left out; NaN when what remains lacks a positive or a negative."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must align, got shapes {s.shape} and {y.shape}")
    ok = ~np.isnan(s)
    s, y = s[ok], y[ok]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(s).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class RankingQuality:
    """Global AUC over all candidates and the mean within-problem AUC.

    Why both: selection compares candidates of ONE problem, so what it needs is the within-problem AUC. A pointwise
    scorer that only learns problem difficulty (easy problems: everything scores high and passes) earns a high
    global AUC and a within-problem AUC near 0.5, and picks no better than random. ``n_problems_within`` is how many
    problems have both a passing and a failing scored candidate: only those enter the mean (the others cannot rank
    anything), so it is reported next to the mean.
    """

    global_auc: float
    within_problem_auc: float
    n_problems_within: int
    n_scored: int

    def to_dict(self) -> dict[str, float | int]:
        return {"global_auc": self.global_auc, "within_problem_auc": self.within_problem_auc,
                "n_problems_within": self.n_problems_within, "n_scored": self.n_scored}


def ranking_quality(scores: np.ndarray, passed: np.ndarray, valid: np.ndarray | None = None) -> RankingQuality:
    """Both AUCs of a (P problems x W candidates) score array against the verdicts; ``valid`` marks real cells
    (padding False), NaN scores (unscored candidates) are left out of both."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(passed, dtype=bool)
    v = np.ones_like(y) if valid is None else np.asarray(valid, dtype=bool)
    if not (s.shape == y.shape == v.shape) or s.ndim != 2:
        raise ValueError(f"scores, passed and valid must be equal 2-D shapes, got {s.shape}, {y.shape}, {v.shape}")
    ok = v & ~np.isnan(s)
    per_problem = [auc(s[p][ok[p]], y[p][ok[p]]) for p in range(s.shape[0])]
    within = [a for a in per_problem if not np.isnan(a)]
    return RankingQuality(global_auc=auc(s[ok], y[ok]),
                          within_problem_auc=float(np.mean(within)) if within else float("nan"),
                          n_problems_within=len(within), n_scored=int(ok.sum()))
