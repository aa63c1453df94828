"""The date-cutoff split: a problem whose contest day is on or before the cutoff is ``train``, after it ``test``;
problems without a date (HumanEval, MBPP, recorded non-LiveCodeBench problems) are ``none``. The cutoff is a day:
``2024-08-01`` puts every problem of 2024-08-01 (any hour) in train."""

from __future__ import annotations

import pandas as pd

from dreamprm.data.livecodebench import parse_date
from dreamprm.errors import InputDataError


def assign_split(problems: pd.DataFrame, cutoff: str | pd.Timestamp) -> pd.DataFrame:
    """A copy of ``problems`` with the ``split`` column set from ``contest_date`` and ``cutoff``."""
    day = parse_date(cutoff, field="cutoff").normalize()
    out = problems.copy()
    dates = pd.to_datetime(out["contest_date"], utc=True).dt.normalize()
    out["split"] = "none"
    out.loc[dates.notna() & (dates <= day), "split"] = "train"
    out.loc[dates.notna() & (dates > day), "split"] = "test"
    return out


def split_ids(problems: pd.DataFrame) -> dict[str, set[str]]:
    """The problem ids on each side of the split."""
    return {s: set(problems.loc[problems["split"] == s, "problem_id"]) for s in ("train", "test", "none")}


def select_splits(problems: pd.DataFrame, splits: str, *, source: str | None = None) -> pd.DataFrame:
    """The problems in any of ``splits`` (comma-separated, e.g. ``"train,none"``: the training side of the cutoff
    plus undated non-LiveCodeBench problems). A name with no problem is an error naming it and ``source`` (the
    problems file), so a typo never selects an empty table."""
    wanted = [x.strip() for x in splits.split(",") if x.strip()]
    present = sorted(set(problems["split"])) if "split" in problems else []
    expected = " | ".join(present) or "a problems table with a split column"
    if not wanted:
        raise InputDataError(f"no split named in {splits!r}", path=source, field="split", expected=expected)
    missing = [w for w in wanted if w not in present]
    if missing:
        raise InputDataError(f"no problem in split(s) {missing}", path=source, field="split", expected=expected)
    return problems[problems["split"].isin(wanted)]
