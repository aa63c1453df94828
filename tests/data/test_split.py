from __future__ import annotations

import pandas as pd

from dreamprm.data.livecodebench import problems_frame
from dreamprm.data.split import assign_split, split_ids


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
