"""Global and within-problem AUC: the Mann-Whitney AUC equals the pairwise count (ties 1/2); a scorer that only
knows problem difficulty has a high global AUC and a within-problem AUC of 0.5; the report shows both for every
score method with the number of problems that can rank anything, and the bad-input counts of the filter."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from dreamprm.evaluate.report import build_report, render_markdown
from dreamprm.evaluate.stats import auc, ranking_quality


def _pairwise_auc(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y], s[~y]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_equals_the_pairwise_count_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = rng.integers(0, 4, size=15).astype(float)  # many ties
        y = rng.random(15) < 0.4
        if y.all() or not y.any():
            continue
        assert auc(s, y) == pytest.approx(_pairwise_auc(s, y))


def test_auc_leaves_out_nan_and_needs_both_classes() -> None:
    assert auc([0.9, np.nan, 0.1], [True, False, False]) == 1.0
    assert math.isnan(auc([0.3, 0.4], [True, True]))
    assert math.isnan(auc([np.nan, 0.4], [False, True]))
    with pytest.raises(ValueError):
        auc([0.1, 0.2], [True])


def test_a_difficulty_only_scorer_ranks_nothing_within_problems() -> None:
    # 3 problems x 4 candidates; pass rates 3/4, 2/4, 1/4; the score is the problem's pass rate (constant within it)
    passed = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)
    difficulty = np.repeat(passed.mean(axis=1, keepdims=True), 4, axis=1)
    q = ranking_quality(difficulty, passed)
    assert q.global_auc > 0.7
    assert q.within_problem_auc == pytest.approx(0.5)
    assert q.n_problems_within == 3 and q.n_scored == 12
    perfect = ranking_quality(passed.astype(float), passed)
    assert perfect.within_problem_auc == 1.0 and perfect.global_auc == 1.0


def test_within_problem_mean_counts_only_problems_with_pass_and_fail() -> None:
    passed = np.array([[1, 0, 0], [1, 1, 1], [0, 0, 0], [0, 1, 0]], dtype=bool)
    scores = np.array([[0.9, 0.1, 0.2], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3], [0.8, 0.1, np.nan]])
    valid = np.ones_like(passed)
    valid[3, 2] = False  # padding cell
    q = ranking_quality(scores, passed, valid)
    assert q.n_problems_within == 2  # problems 0 and 3
    assert q.within_problem_auc == pytest.approx((1.0 + 0.0) / 2)
    assert q.n_scored == 11


def _frame() -> pd.DataFrame:
    rows = [  # problem, candidate, sample, examples_passed, n_examples, passed, score
        ("p1", "a", 0, True, 2, True, 0.9), ("p1", "b", 1, False, 2, False, 0.2), ("p1", "c", 2, True, 2, False, 0.4),
        ("p2", "d", 0, None, 0, True, 0.1), ("p2", "e", 1, None, 0, False, 0.6),  # no parsable example
        ("p3", "f", 0, None, None, False, 0.3), ("p3", "g", 1, True, 3, True, 0.7),  # f was never executed
    ]
    df = pd.DataFrame(rows, columns=["problem_id", "candidate_id", "sample_index", "examples_passed", "n_examples",
                                     "passed", "s"])
    df["signature"] = None
    df["scores:prm"] = [[v] for v in df.pop("s")]
    return df


def test_report_shows_both_aucs_and_the_bad_input_counts() -> None:
    r = build_report(_frame(), aggregations=("min",), references=("random", "filter:random"), n_resamples=100)
    a = r["methods"]["prm:min"]["auc"]
    assert a["n_problems_within"] == 3 and a["within_problem_auc"] == pytest.approx((1.0 + 0.0 + 1.0) / 3)
    assert r["ranking"]["prm:min"] == a
    assert r["ranking"]["examples_passed"]["n_problems_within"] == 3
    assert r["n_problems_without_examples"] == 1 and r["n_candidates_not_executed"] == 1
    assert r["n_problems_without_survivor"] == 1  # p2
    assert r["n_problems"] == 3  # never a smaller denominator
    md = render_markdown(r)
    assert "| prm:min | " in md and "within-problem AUC" in md
    assert "1 problems without a parsable example, 1 candidates not executed" in md


def test_report_without_executions_has_no_execution_counts() -> None:
    df = _frame().drop(columns=["examples_passed", "n_examples"])
    r = build_report(df, aggregations=("min",), n_resamples=50)
    assert r["n_problems_without_examples"] is None and r["n_candidates_not_executed"] is None
    assert "examples_passed" not in r["ranking"]
