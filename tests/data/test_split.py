from __future__ import annotations

import pandas as pd
import pytest

from dreamprm.data.livecodebench import problems_frame
from dreamprm.data.split import assign_split, select_splits, split_ids
from dreamprm.errors import InputDataError


def _p(pid: str, date: str | None) -> dict:
    return {"problem_id": pid, "source": "livecodebench", "contest_date": pd.Timestamp(date, tz="UTC") if date
            else pd.NaT, "has_tests": False}


def test_cutoff_day_is_train_and_no_id_on_both_sides():
    df = problems_frame([_p("a", "2024-07-31"), _p("b", "2024-08-01T23:30:00"), _p("c", "2024-08-02"),
                         _p("d", None)])
    out = assign_split(df, "2024-08-01")
    assert dict(zip(out["problem_id"], out["split"])) == {"a": "train", "b": "train", "c": "test", "d": "none"}
    ids = split_ids(out)
    assert not ids["train"] & ids["test"]


def test_lcb_v6_evaluation_problems_never_meet_the_training_side(shared_data) -> None:
    """`make eval-lcb`: the 175 release_v6 problems are all after the cutoff, and no training-side problem of the
    recorded generations is one of them."""
    from dreamprm.data.recorded import import_recorded

    test6 = import_recorded([shared_data / "lcb_fork_gu-ni_n10_generations" / "output_test6"])
    train_pool = import_recorded([shared_data / "lcb_v6_generations_xiangww0108",
                                  shared_data / "lcb_submissions_official"])
    evaluated = assign_split(test6.problems, "2024-08-01")
    trained = assign_split(train_pool.problems, "2024-08-01")
    assert len(evaluated) == 175 and set(evaluated["split"]) == {"test"}
    train_ids = set(trained.loc[trained["split"] == "train", "problem_id"])
    assert len(train_ids) == 601
    assert not train_ids & set(evaluated["problem_id"])
    assert test6.candidates.groupby("problem_id").size().eq(60).all()


def test_select_splits_takes_a_comma_list_and_names_a_missing_split():
    df = assign_split(problems_frame([_p("a", "2024-07-31"), _p("c", "2024-08-02"), _p("d", None)]), "2024-08-01")
    assert list(select_splits(df, "train, none")["problem_id"]) == ["a", "d"]
    assert list(select_splits(df, "test")["problem_id"]) == ["c"]
    with pytest.raises(InputDataError, match=r"problems.parquet, field 'split': no problem in split\(s\) \['trian'\] "
                       r"\(expected none \| test \| train\)"):
        select_splits(df, "train,trian", source="problems.parquet")
    with pytest.raises(InputDataError, match="no split named"):
        select_splits(df, " , ")
