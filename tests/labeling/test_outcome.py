"""Outcome-propagated step labels: the layout of Monte-Carlo rows, the verdict on every step, nothing dropped."""

from __future__ import annotations

import pandas as pd
import pytest

from dreamprm.errors import InputDataError
from dreamprm.labeling import outcome_step_labels
from dreamprm.data.schema import STEP_LABEL_COLUMNS

CODE = 'def helper(x):\n    """Double."""\n    return 2 * x\n\ndef main():\n    print(helper(int(input())))\n\nmain()\n'


@pytest.fixture
def tables():
    problems = pd.DataFrame([{"problem_id": "p1", "statement": "Double n.", "starter_code": "", "func_name": "",
                              "test_type": "stdin", "platform": "atcoder", "title": "double"}])
    candidates = pd.DataFrame([{"candidate_id": "a", "problem_id": "p1", "code": CODE, "policy": "m1"},
                               {"candidate_id": "b", "problem_id": "p1", "code": CODE, "policy": "m2"},
                               {"candidate_id": "c", "problem_id": "p1", "code": "print(1)", "policy": "m2"}])
    return problems, candidates


def test_every_step_carries_the_final_verdict(tables) -> None:
    problems, candidates = tables
    rows = outcome_step_labels(problems, candidates, {"a": True, "b": False})
    assert list(rows.columns) == list(STEP_LABEL_COLUMNS)
    assert list(rows["candidate_id"]) == ["a", "b"]  # c has no verdict: not labeled
    a, b = rows.iloc[0], rows.iloc[1]
    assert len(a["completions"]) > 2 and "".join(a["completions"]) == CODE
    assert list(a["soft_labels"]) == [1.0] * len(a["completions"])
    assert list(b["soft_labels"]) == [0.0] * len(b["completions"])
    assert list(a["clean"]) == [False] * (len(a["completions"]) - 1) + [True]
    assert sum(a["rollout_counts"]) == 0


def test_unknown_problem_is_named(tables) -> None:
    problems, candidates = tables
    candidates.loc[0, "problem_id"] = "nope"
    with pytest.raises(InputDataError, match="nope"):
        outcome_step_labels(problems, candidates, {"a": True})
