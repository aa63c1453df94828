"""The execution-evidence filter: keep the candidates that pass their statement's examples, then random / first /
majority / a PRM among the survivors; a problem with no survivor falls back to all its candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dreamprm.evaluate.report import build_report
from dreamprm.evaluate.select import CandidateTable


def _frame() -> pd.DataFrame:
    rows = [
        # p1: c0 fails examples (and hidden), c1 and c2 pass examples, only c2 passes hidden tests
        ("p1", "c0", 0, False, False, "A", [0.9]), ("p1", "c1", 1, True, False, "B", [0.8]),
        ("p1", "c2", 2, True, True, "B", [0.1]),
        # p2: no candidate passes its examples -> the filter falls back to all three
        ("p2", "d0", 0, False, False, "X", [0.2]), ("p2", "d1", 1, False, True, "Y", [0.7]),
        ("p2", "d2", 2, False, False, "Y", [0.3]),
        # p3: no example could be parsed (None) -> no survivor, fallback
        ("p3", "e0", 0, None, True, None, [0.5]), ("p3", "e1", 1, None, False, None, [0.6]),
    ]
    return pd.DataFrame(rows, columns=["problem_id", "candidate_id", "sample_index", "examples_passed", "passed",
                                       "signature", "scores:prm"])


def test_filter_methods_and_fallback() -> None:
    t = CandidateTable.from_frame(_frame(), score_methods={"prm:min": ("scores:prm", "min")})
    assert {"filter:random", "filter:first", "filter:majority", "filter:prm:min"} <= set(t.methods)
    v = t.per_problem()
    assert v.loc["p1", "random"] == pytest.approx(1 / 3) and v.loc["p1", "filter:random"] == pytest.approx(0.5)
    assert v.loc["p1", "filter:first"] == 0.0  # c1 is the first survivor, and it fails the hidden tests
    assert v.loc["p1", "prm:min"] == 0.0 and v.loc["p1", "filter:prm:min"] == 0.0  # PRM prefers c1 among survivors
    # p2 and p3 have no survivor: every filter method equals its unfiltered form there
    for p in ("p2", "p3"):
        for base in ("random", "first", "majority", "prm:min"):
            assert v.loc[p, f"filter:{base}"] == v.loc[p, base], (p, base)
    assert t.n_problems_without_survivor == 2
    picks = t.picked_ids(["filter:first", "filter:majority", "filter:prm:min"])
    assert picks.loc["p1"].tolist() == ["c1", "c1", "c1"]


def test_no_examples_column_means_no_filter_methods() -> None:
    t = CandidateTable.from_frame(_frame().drop(columns="examples_passed"))
    assert not any(m.startswith("filter:") for m in t.methods)


def test_report_lists_filters_and_hybrids_with_the_fallback_count() -> None:
    report = build_report(_frame(), aggregations=("min",), references=("random", "filter:random"), n_resamples=200)
    assert report["methods"]["filter:random"]["kind"] == "filter"
    assert report["methods"]["filter:prm:min"]["kind"] == "hybrid"
    assert report["n_problems_without_survivor"] == 2
    assert "filter:random - random" in report["differences"]
    expected = np.mean([0.5, 1 / 3, 0.5])
    assert report["methods"]["filter:random"]["pass_at_1"]["estimate"] == pytest.approx(expected)
