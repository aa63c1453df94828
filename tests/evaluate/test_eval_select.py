"""Best-of-N selection: hand-built cases for every method, tie-breaks, bad input, and the vectorised engine checked
against the per-problem reference implementation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dreamprm.errors import InputDataError
from dreamprm.evaluate.select import (
    Candidate,
    CandidateTable,
    candidates_from_frame,
    method_value,
    oracle_pass,
    pass_at_k,
    random_pass,
    select_by_score,
    select_first,
    select_majority,
)


def C(cid: str, passed: bool | None, scores: list[float] | None = None, sig: str | None = None,
      idx: int = 0) -> Candidate:
    return Candidate(candidate_id=cid, passed=passed, step_scores=scores, signature=sig, sample_index=idx)


# ---- pass@k ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 0, 1, 0.0),
        (5, 5, 1, 1.0),
        (5, 2, 1, 0.4),
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (5, 3, 3, 1.0),  # n - c < k: every 3-subset holds a pass
        (1, 1, 1, 1.0),
        (10, 1, 10, 1.0),
        (10, 1, 5, 0.5),  # 1 - C(9,5)/C(10,5) = 1 - 126/252
    ],
)
def test_pass_at_k_edge_cases(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_matches_the_binomial_formula() -> None:
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1.0 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12), (n, c, k)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 2, 6), (5, 2, 0), (5, 6, 1), (0, 0, 1)])
def test_pass_at_k_rejects_undefined_inputs(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


# ---- baselines ------------------------------------------------------------------------------------------------------

def test_random_is_exact_mean_correctness_with_missing_as_failure() -> None:
    cands = [C("a", True), C("b", False), C("c", True), C("d", None), C("e", False)]
    assert random_pass(cands) == pytest.approx(2 / 5)  # the missing verdict stays in the denominator


def test_oracle_is_any_pass() -> None:
    assert oracle_pass([C("a", False), C("b", True)]) == 1.0
    assert oracle_pass([C("a", False), C("b", None)]) == 0.0


def test_first_sample_uses_sample_index_then_candidate_id() -> None:
    cands = [C("z", True, idx=2), C("y", False, idx=0), C("b", True, idx=1), C("a", True, idx=0)]
    assert select_first(cands).candidate_id == "a"


# ---- score argmax ---------------------------------------------------------------------------------------------------

def test_score_argmax_depends_on_aggregation() -> None:
    # x: min 0.5, last 0.5 ; y: min 0.1, last 0.95
    cands = [C("x", True, [0.9, 0.5], idx=0), C("y", False, [0.1, 0.95], idx=1)]
    assert select_by_score(cands, "min").candidate_id == "x"
    assert select_by_score(cands, "last").candidate_id == "y"
    assert method_value(cands, "score", "min") == 1.0
    assert method_value(cands, "score", "last") == 0.0


def test_score_ties_go_to_the_earliest_candidate() -> None:
    cands = [C("b", True, [0.7], idx=3), C("a", False, [0.7], idx=3), C("c", True, [0.7], idx=5),
             C("d", True, [0.2], idx=0)]
    assert select_by_score(cands, "min").candidate_id == "a"  # same index 3 -> smaller id


def test_unscored_rank_below_scored_and_all_unscored_falls_back_to_first() -> None:
    cands = [C("a", True, None, idx=0), C("b", False, [0.01], idx=1)]
    assert select_by_score(cands, "min").candidate_id == "b"
    cands = [C("a", True, None, idx=1), C("b", False, [], idx=0)]
    assert select_by_score(cands, "min").candidate_id == "b"


# ---- majority vote --------------------------------------------------------------------------------------------------

def test_majority_picks_earliest_member_of_largest_cluster_and_ignores_missing_signatures() -> None:
    cands = [
        C("n1", False, sig=None, idx=0), C("n2", False, sig=None, idx=1), C("n3", False, sig=None, idx=2),
        C("n4", False, sig="", idx=3),  # four candidates without signature: they must not win as a "cluster"
        C("a1", False, sig="A", idx=4), C("a2", False, sig="A", idx=5),
        C("b1", True, sig="B", idx=8), C("b2", False, sig="B", idx=6), C("b3", True, sig="B", idx=7),
    ]
    pick = select_majority(cands)
    assert pick.candidate_id == "b2"  # cluster B (size 3) wins; its earliest member is b2 (index 6)
    assert method_value(cands, "majority") == 0.0


def test_majority_tie_between_clusters_goes_to_the_cluster_with_the_earliest_member() -> None:
    cands = [C("b1", True, sig="B", idx=1), C("a1", False, sig="A", idx=2), C("a2", False, sig="A", idx=3),
             C("b2", True, sig="B", idx=4)]
    assert select_majority(cands).candidate_id == "b1"


def test_majority_without_any_signature_is_first_sample() -> None:
    cands = [C("x", False, sig=None, idx=1), C("y", True, sig=None, idx=0)]
    assert select_majority(cands).candidate_id == "y"


def test_empty_candidate_list_raises() -> None:
    with pytest.raises(ValueError):
        select_first([])


# ---- the vectorised engine ------------------------------------------------------------------------------------------

def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_single_candidate_and_all_pass_all_fail_problems() -> None:
    df = _frame([
        {"problem_id": "single", "candidate_id": "s", "sample_index": 0, "passed": True, "signature": None,
         "scores:prm": [0.2]},
        {"problem_id": "allpass", "candidate_id": "p1", "sample_index": 0, "passed": True, "signature": "x",
         "scores:prm": [0.1]},
        {"problem_id": "allpass", "candidate_id": "p2", "sample_index": 1, "passed": True, "signature": "y",
         "scores:prm": [0.9]},
        {"problem_id": "allfail", "candidate_id": "f1", "sample_index": 0, "passed": False, "signature": "x",
         "scores:prm": [0.9]},
        {"problem_id": "allfail", "candidate_id": "f2", "sample_index": 1, "passed": None, "signature": "x",
         "scores:prm": None},
    ])
    table = CandidateTable.from_frame(df, {"prm:min": ("scores:prm", "min")})
    pp = table.per_problem()
    assert list(pp.index) == ["allfail", "allpass", "single"]
    for m in ("random", "first", "majority", "oracle", "prm:min"):
        assert pp.loc["single", m] == 1.0
        assert pp.loc["allpass", m] == 1.0
        assert pp.loc["allfail", m] == 0.0
    assert table.n_missing_verdicts == 1
    assert table.picked_ids(["prm:min"]).loc["allpass", "prm:min"] == "p2"


def test_table_validation_names_the_problem() -> None:
    base = {"problem_id": "p", "candidate_id": "c", "sample_index": 0, "passed": True, "signature": None}
    with pytest.raises(InputDataError, match="appears twice"):
        CandidateTable.from_frame(_frame([base, dict(base)]), {})
    with pytest.raises(InputDataError, match="signature"):
        CandidateTable.from_frame(_frame([{k: v for k, v in base.items() if k != "signature"}]), {})
    with pytest.raises(InputDataError, match="several difficulties"):
        CandidateTable.from_frame(_frame([{**base, "difficulty": "easy"},
                                          {**base, "candidate_id": "d", "difficulty": "hard"}]), {})


def _random_frame(seed: int, n_problems: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_problems):
        for i in range(int(rng.integers(1, 9))):
            scores = None if rng.random() < 0.2 else list(np.round(rng.random(int(rng.integers(1, 4))), 1))
            rows.append({"problem_id": f"p{p:02d}", "candidate_id": f"c{int(rng.integers(0, 50))}_{i}",
                         "sample_index": int(rng.integers(0, 3)), "passed": [True, False, None][rng.integers(3)],
                         "signature": [None, "A", "B", "C"][rng.integers(4)], "scores:prm": scores})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_engine_agrees_with_reference(seed: int) -> None:
    df = _random_frame(seed)
    aggs = ("min", "mean", "last", "product", "log_odds_sum")
    table = CandidateTable.from_frame(df, {a: ("scores:prm", a) for a in aggs})
    pp = table.per_problem()
    ref = candidates_from_frame(df, "scores:prm")
    for pid, cands in ref.items():
        assert pp.loc[pid, "random"] == pytest.approx(random_pass(cands))
        assert pp.loc[pid, "oracle"] == oracle_pass(cands)
        assert pp.loc[pid, "first"] == method_value(cands, "first")
        assert pp.loc[pid, "majority"] == method_value(cands, "majority")
        for a in aggs:
            assert pp.loc[pid, a] == method_value(cands, "score", a), (pid, a)


def test_vectorised_engine_agrees_with_reference_on_subsets() -> None:
    df = _random_frame(7)
    table = CandidateTable.from_frame(df, {"prm:min": ("scores:prm", "min")})
    rng = np.random.default_rng(0)
    mask = (rng.random(table.valid.shape) < 0.5) & table.valid
    mask[np.arange(len(mask)), 0] = True  # column 0 is always a real candidate
    ref = candidates_from_frame(df, "scores:prm")
    for method, fn in (("majority", lambda c: method_value(c, "majority")),
                       ("prm:min", lambda c: method_value(c, "score", "min")),
                       ("random", random_pass)):
        vals = table.pass_values(method, mask)
        for p, pid in enumerate(table.problem_ids):
            kept = set(table.candidate_ids[p][mask[p]])
            subset = [c for c in ref[pid] if c.candidate_id in kept]
            assert vals[p] == pytest.approx(fn(subset)), (method, pid)
