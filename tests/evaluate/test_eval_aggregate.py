"""Step-score aggregations on lists whose answers are computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dreamprm.errors import InputDataError
from dreamprm.evaluate.aggregate import AGGREGATIONS, EPS, aggregate, aggregate_many, as_probability


def test_registry_holds_the_five_aggregations() -> None:
    assert set(AGGREGATIONS) == {"min", "mean", "last", "product", "log_odds_sum"}


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("min", 0.2),
        ("mean", (0.9 + 0.2 + 0.6) / 3),
        ("last", 0.6),
        ("product", 0.9 * 0.2 * 0.6),  # 0.108
        ("log_odds_sum", math.log(9.0) + math.log(0.25) + math.log(1.5)),
    ],
)
def test_aggregations_on_a_known_list(method: str, expected: float) -> None:
    assert aggregate([0.9, 0.2, 0.6], method) == pytest.approx(expected, rel=1e-9)


def test_log_odds_sum_adds_evidence_and_a_half_is_neutral() -> None:
    # logit(0.5) = 0, logit(0.8) = log 4
    assert aggregate([0.5, 0.8], "log_odds_sum") == pytest.approx(math.log(4.0))
    # symmetric steps cancel
    assert aggregate([0.2, 0.8], "log_odds_sum") == pytest.approx(0.0, abs=1e-12)


def test_extremes_are_clipped_to_finite_values() -> None:
    assert aggregate([0.0], "product") == pytest.approx(EPS)
    lo = aggregate([1.0], "log_odds_sum")
    assert math.isfinite(lo) and lo == pytest.approx(math.log((1 - EPS) / EPS))
    assert aggregate([0.0, 1.0], "log_odds_sum") == pytest.approx(0.0, abs=1e-6)
    # min/mean/last keep the raw value: no clipping where no log is taken
    assert aggregate([0.0, 1.0], "min") == 0.0


def test_unscored_candidates_aggregate_to_nan() -> None:
    for empty in (None, [], float("nan"), np.array([])):
        assert math.isnan(aggregate(empty, "min"))
    out = aggregate_many([[0.3, 0.7], None, np.array([0.4])], "last")
    assert out[0] == pytest.approx(0.7) and math.isnan(out[1]) and out[2] == pytest.approx(0.4)


@pytest.mark.parametrize("bad", [[0.5, 1.5], [-0.1], [float("nan"), 0.3], [float("inf")]])
def test_scores_outside_unit_interval_raise(bad: list[float]) -> None:
    with pytest.raises(InputDataError, match="within \\[0, 1\\]"):
        aggregate(bad, "mean")


def test_unknown_aggregation_names_the_valid_ones() -> None:
    with pytest.raises(InputDataError, match="log_odds_sum"):
        aggregate([0.5], "median")


def test_as_probability_maps_log_odds_through_sigmoid() -> None:
    assert as_probability("log_odds_sum", np.array([0.0]))[0] == pytest.approx(0.5)
    assert as_probability("log_odds_sum", np.array([math.log(3.0)]))[0] == pytest.approx(0.75)
    assert as_probability("min", np.array([0.3]))[0] == pytest.approx(0.3)
