"""The three LiveCodeBench sets of ``make eval-lcb``, ``eval-lcb-window`` and ``eval-lcb-baselines`` are disjoint:
train side (problems dated on or before 2024-08-01 plus gu-ni's undated Codeforces problems), validation window
(problems dated after 2024-08-01 that are not among release_v6's 175) and the 175 test problems. Built with the same
fetch options as the Makefile targets, from ../shared/data (skipped with a message when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dreamprm.data.fetch import FetchConfig, assemble, load_parts

pytestmark = pytest.mark.integration
CUTOFF = pd.Timestamp("2024-08-01", tz="UTC")


def _build(**options: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    config = FetchConfig(humaneval=False, **options)
    return assemble(load_parts(config.check()), cutoff=config.split_config(), since=config.since,
                    until=config.until)


@pytest.fixture(scope="module")
def sets(shared_data: Path) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    test6 = shared_data / "lcb_fork_gu-ni_n10_generations" / "output_test6"
    xiang, official = shared_data / "lcb_v6_generations_xiangww0108", shared_data / "lcb_submissions_official"
    codeforces = shared_data / "lcb_fork_gu-ni_n10_generations" / "output_codeforces"
    test = _build(recorded=[test6])
    train_p, train_c = _build(recorded=[xiang, official, codeforces], undated_eval_fraction=0.0)
    on_train = train_p["split"].isin(["train", "meta"])  # what `label --split train,meta` reads
    train = (train_p[on_train], train_c[train_c["problem_id"].isin(train_p.loc[on_train, "problem_id"])])
    window = _build(recorded=[xiang, official], since="2024-08-02", exclude_recorded=[test6])
    return {"train": train, "window": window, "test": test}


def test_sizes_match_the_issue(sets: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    test_p, test_c = sets["test"]
    assert len(test_p) == 175 and len(test_c) == 10_500 and int(test_c["official_passed"].sum()) == 2081
    win_p, win_c = sets["window"]
    assert len(win_p) == 279 and len(win_c) == 1395
    assert (win_c.groupby("problem_id").size() == 5).all()
    assert round(100 * win_c["official_passed"].mean()) == 29
    assert set(win_c["policy"]) == {"Qwen2.5-Ins-7B", "Qwen-3-8B", "O1-Mini-2024-09-12", "O1-Preview-2024-09-12"}
    assert (win_p["split"] == "eval").all()


def test_the_three_sets_are_disjoint(sets: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    ids = {name: set(p["problem_id"].astype(str)) for name, (p, _) in sets.items()}
    for a, b in (("train", "window"), ("train", "test"), ("window", "test")):
        assert not ids[a] & ids[b], (a, b, sorted(ids[a] & ids[b])[:5])
    cands = {name: set(c["candidate_id"]) for name, (_, c) in sets.items()}
    assert not (cands["train"] & cands["window"]) and not (cands["window"] & cands["test"])
    train_p, _ = sets["train"]
    dated = train_p["contest_date"].notna()
    assert (pd.to_datetime(train_p.loc[dated, "contest_date"], utc=True).dt.normalize() <= CUTOFF).all()
    assert set(train_p.loc[~dated, "source"]) == {"codeforces_extra"} and (~dated).sum() == 157
    win_p, _ = sets["window"]
    assert (pd.to_datetime(win_p["contest_date"], utc=True).dt.normalize() > CUTOFF).all()
