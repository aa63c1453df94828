from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dreamprm.errors import InputDataError
from dreamprm.io import atomic_path, read_parquet, write_json, write_parquet


def test_parquet_roundtrip(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = write_parquet(df, tmp_path / "sub" / "t.parquet")
    pd.testing.assert_frame_equal(read_parquet(path), df)
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_failed_write_keeps_old_artifact_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json({"v": 1}, target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().startswith("{")
    assert '"v": 1' in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_missing_table_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="nothere.parquet"):
        read_parquet(tmp_path / "nothere.parquet")


def test_error_message_names_location() -> None:
    err = InputDataError("not valid JSON", path="a.jsonl", line=3, field="private_test_cases", expected="base64")
    assert str(err) == "a.jsonl, line 3, field 'private_test_cases': not valid JSON (expected base64)"


def test_atomic_dir_replaces_a_folder_whole_or_not_at_all(tmp_path: Path) -> None:
    """A saved model folder is replaced whole: an old file (a registry record of the earlier weights) does not
    survive beside the new ones, and a failed save leaves the old folder as it was, with no temporary left."""
    from dreamprm.io import atomic_dir

    target = tmp_path / "final"
    target.mkdir()
    (target / "weights").write_text("old")
    (target / "registry.json").write_text("{}")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "weights").write_text("half")
            raise RuntimeError("killed mid-save")
    assert sorted(p.name for p in target.iterdir()) == ["registry.json", "weights"]
    assert (target / "weights").read_text() == "old"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["weights"] and (target / "weights").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["final"]  # no temporary or stale folder left
