"""Paired bootstrap: intervals hold the estimate, shrink with more problems, and paired differences separate a
clearly better method from an identical one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dreamprm.evaluate.stats import bootstrap_means, paired_bootstrap, paired_difference


def _values(n: int, rate: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < rate).astype(float)


def test_interval_contains_point_estimate() -> None:
    v = _values(60, 0.4, 0)
    res = paired_bootstrap({"m": v}, n_resamples=2000, seed=1)
    iv = res.interval("m")
    assert iv.estimate == pytest.approx(v.mean())
    assert iv.low < iv.estimate < iv.high
    assert 0.0 <= iv.low and iv.high <= 1.0


def test_interval_shrinks_with_more_problems() -> None:
    v = _values(40, 0.5, 3)
    small = paired_bootstrap({"m": v}, n_resamples=3000, seed=0).interval("m")
    big = paired_bootstrap({"m": np.tile(v, 16)}, n_resamples=3000, seed=0).interval("m")
    assert big.estimate == pytest.approx(small.estimate)
    # same mean and variance, 16x the problems -> about 1/4 the width
    assert big.width < 0.4 * small.width


def test_clearly_better_method_has_interval_excluding_zero() -> None:
    rng = np.random.default_rng(5)
    b = (rng.random(150) < 0.4).astype(float)
    a = b.copy()
    flip = np.flatnonzero(a == 0)[:30]  # a solves everything b solves plus 30 more problems
    a[flip] = 1.0
    d = paired_difference(a, b, n_resamples=2000, seed=0)
    assert d.interval.estimate == pytest.approx(30 / 150)
    assert d.interval.low > 0 and d.excludes_zero
    assert d.share_le_zero == 0.0


def test_identical_methods_have_zero_difference_including_zero() -> None:
    v = _values(80, 0.5, 2)
    d = paired_difference(v, v.copy(), n_resamples=1000, seed=0)
    assert d.interval.estimate == 0.0 and d.interval.contains(0.0)
    assert not d.excludes_zero
    assert d.share_le_zero == 1.0


def test_pairing_makes_the_difference_tighter_than_the_marginals() -> None:
    # b = a except on 5 problems: the marginal intervals overlap heavily, the paired difference stays narrow
    a = _values(100, 0.5, 9)
    b = a.copy()
    b[np.flatnonzero(a == 1)[:5]] = 0.0
    res = paired_bootstrap(pd.DataFrame({"a": a, "b": b}), n_resamples=2000, seed=0)
    assert res.difference("a", "b").interval.width < 0.5 * res.interval("a").width
    assert res.difference("a", "b").interval.low >= 0.0


def test_seeded_and_vectorised_shapes() -> None:
    v = np.column_stack([_values(30, 0.5, 0), _values(30, 0.3, 1)])
    s1 = bootstrap_means(v, n_resamples=500, seed=4, chunk_size=128)
    s2 = bootstrap_means(v, n_resamples=500, seed=4, chunk_size=128)
    s3 = bootstrap_means(v, n_resamples=500, seed=5, chunk_size=128)
    assert s1.shape == (500, 2)
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(s1, s3)
    assert s1.mean(axis=0) == pytest.approx(v.mean(axis=0), abs=0.02)
    assert bootstrap_means(v[:, 0], n_resamples=10, seed=0).shape == (10,)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError):
        bootstrap_means(np.array([]), n_resamples=10)
    with pytest.raises(ValueError):
        bootstrap_means(np.array([0.5, np.nan]), n_resamples=10)
    with pytest.raises(ValueError):
        paired_difference([1.0, 0.0], [1.0], n_resamples=10)
    with pytest.raises(KeyError):
        paired_bootstrap({"a": [1.0]}, n_resamples=10).interval("b")
