from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamprm.errors import InputDataError
from dreamprm.releases import compare, file_version, load_state, observe_local, record_state


def write_release(folder: Path, name: str, dates: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w") as fh:
        for i, d in enumerate(dates):
            fh.write(json.dumps({"question_id": f"{name}-{i}", "contest_date": f"{d}T00:00:00"}) + "\n")


def test_file_versions() -> None:
    assert file_version("test.jsonl") == 1
    assert file_version("test6.jsonl") == 6
    assert file_version("train.jsonl") is None


def test_new_file_then_nothing_then_later_dates(tmp_path: Path) -> None:
    lcb, state = tmp_path / "lcb", tmp_path / "state.json"
    write_release(lcb, "test.jsonl", ["2023-05-01", "2023-06-01"])
    first = compare(load_state(state), observe_local(lcb))
    assert first.is_new and first.since is None
    record_state(state, first.snapshot)
    again = compare(load_state(state), observe_local(lcb))
    assert not again.is_new
    write_release(lcb, "test2.jsonl", ["2023-07-01"])
    second = compare(load_state(state), observe_local(lcb))
    assert second.is_new and "test2.jsonl" in second.reason and second.since == "2023-06-02"
    record_state(state, second.snapshot)
    write_release(lcb, "test2.jsonl", ["2023-07-01", "2023-08-15"])
    third = compare(load_state(state), observe_local(lcb))
    assert third.is_new and "later contest dates" in third.reason and third.since == "2023-07-02"


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        observe_local(tmp_path / "nope")
