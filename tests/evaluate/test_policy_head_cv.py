"""benchmarks/policy_head_cv.py: the within-problem pairwise head and its N=6 scoring, on synthetic vectors."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from policy_head_cv import evaluate_n6, fit_pairwise_head, prior_scores


def _frame(n_problems: int = 30, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Six models, one sample each; model m-0 is always right, the others never. Each vector carries a problem
    offset (what a pointwise head would learn: difficulty) plus, in dimension 0, +1 for a passing program."""
    rng = np.random.default_rng(seed)
    rows, x = [], []
    for p in range(n_problems):
        offset = rng.normal(0, 5, 8)
        for m in range(6):
            ok = m == 0
            rows.append({"problem_id": f"p{p}", "policy": f"m-{m}", "sample_index": 0, "passed": ok})
            x.append(offset + rng.normal(0, 0.1, 8) + np.eye(8)[0] * (1.0 if ok else 0.0))
    # rows shuffled, problems interleaved (a misaligned index would mis-pick)
    order = rng.permutation(len(rows))
    return pd.DataFrame(rows).iloc[order].reset_index(drop=True), np.array(x)[order]


def test_the_head_learns_the_within_problem_direction_and_picks_the_passing_program() -> None:
    frame, x = _frame()
    train = frame["problem_id"].isin([f"p{i}" for i in range(15)]).to_numpy()
    w = fit_pairwise_head(x[train], frame[train], components=8, l2=1e-3)
    test = frame[~train].reset_index(drop=True)
    res = evaluate_n6(test, {"head": x[~train] @ w, "anti": -(x[~train] @ w)}, n_resamples=200)
    assert res["random"]["pass_at_1"] == pytest.approx(1 / 6)
    assert res["head"]["pass_at_1"] == 1.0 and res["head"]["within_problem_auc"] == 1.0
    assert res["head"]["problems_with_pass_and_fail"] == 15
    assert res["head"]["vs_random"][0] == pytest.approx(5 / 6)
    assert res["anti"]["pass_at_1"] == 0.0 and res["anti"]["within_problem_auc"] == 0.0


def test_prior_scores_read_the_training_rows_rates_and_rank_unknown_models_last() -> None:
    frame, _ = _frame(4)
    test = pd.DataFrame({"problem_id": ["q1", "q1", "q1"], "policy": ["m-0", "m-3", "m-new"]})
    assert prior_scores(frame, test).tolist() == [1.0, 0.0, -1.0]


def test_a_training_set_without_mixed_problems_is_refused() -> None:
    frame, x = _frame(3)
    with pytest.raises(SystemExit, match="no problem with a passing and a failing"):
        fit_pairwise_head(x, frame.assign(passed=False), components=4, l2=1.0)
