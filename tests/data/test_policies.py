"""Selecting the candidates of the policies a PRM will rank (``dreamprm label --policies-of --per-policy``)."""

from __future__ import annotations

import pandas as pd
import pytest

from dreamprm.data.policies import policies_of, select_policies
from dreamprm.errors import InputDataError


def _candidates() -> pd.DataFrame:
    rows = [{"candidate_id": f"{p}-{m}-{s}", "problem_id": p, "policy": m, "sample_index": s}
            for p in ("p1", "p2") for m in ("A", "B", "C") for s in (2, 0, 1)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)


def test_keeps_the_named_policies_and_their_lowest_samples_per_problem() -> None:
    picked = select_policies(_candidates(), ["A", "C"], per_policy=2)
    assert sorted(picked["candidate_id"]) == sorted(
        f"{p}-{m}-{s}" for p in ("p1", "p2") for m in ("A", "C") for s in (0, 1))
    assert list(picked.index) == sorted(picked.index)  # the table's own order is kept


def test_no_policy_and_no_cap_is_every_candidate() -> None:
    c = _candidates()
    assert select_policies(c, [], 0) is c
    assert len(select_policies(c, [], 1)) == 6  # one sample of each policy per problem
    assert len(select_policies(c, ["B"], 0)) == 6


def test_policies_of_reads_the_distinct_names() -> None:
    assert policies_of(pd.DataFrame({"policy": ["B", "A", "B", None]})) == ["A", "B"]
    with pytest.raises(InputDataError, match="no 'policy' column"):
        policies_of(pd.DataFrame({"x": [1]}), "t.parquet")


@pytest.mark.parametrize("policies, per_policy, frame, message", [
    (["Z"], 0, _candidates(), r"no candidate was written by \['Z'\]; the table's policies are \['A', 'B', 'C'\]"),
    ([], 2, _candidates().drop(columns=["sample_index"]), "no 'sample_index' column"),
    (["A"], 0, _candidates().drop(columns=["policy"]), "no 'policy' column"),
    ([], -1, _candidates(), "per_policy must be 0"),
])
def test_bad_selection_names_what_is_wrong(policies: list[str], per_policy: int, frame: pd.DataFrame,
                                           message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        select_policies(frame, policies, per_policy, "cands.parquet")
