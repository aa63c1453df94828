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


def test_atomic_dir_puts_the_old_folder_back_when_the_swap_fails(tmp_path: Path, monkeypatch) -> None:
    """The second rename failing (a full disk, a kill signal turned exception) leaves the old folder in place, and the
    next save clears what an earlier kill left behind."""
    import os

    from dreamprm import io

    target = tmp_path / "final"
    target.mkdir()
    (target / "weights").write_text("old")
    real_replace = os.replace

    def failing_second_rename(src, dst):  # type: ignore[no-untyped-def]
        if Path(src).suffix == ".tmp":
            raise OSError("no space left")
        return real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", failing_second_rename)
    with pytest.raises(OSError, match="no space"):
        with io.atomic_dir(target) as tmp:
            (tmp / "weights").write_text("new")
    monkeypatch.setattr(io.os, "replace", real_replace)
    assert (target / "weights").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["final"]
    (tmp_path / ".final.k1lled0_.tmp").mkdir()  # what a kill mid-save leaves (mkdtemp: 8 random characters)
    with io.atomic_dir(target) as tmp:
        (tmp / "weights").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["final"] and (target / "weights").read_text() == "new"


def test_atomic_entries_replaces_only_the_claimed_entries(tmp_path: Path) -> None:
    from dreamprm.io import atomic_entries

    out = tmp_path / "reports"
    (out / "per-problem-6").mkdir(parents=True)
    (out / "per-problem-6" / "report.json").write_text("old 6")
    (out / "per-problem-9").mkdir()  # a size the new run does not write: removed
    (out / "report.json").write_text("old")
    (out / "rerank.csv").write_text("another writer's")  # not claimed: kept
    (tmp_path / ".reports.k1lled0_.staging").mkdir()  # left by a killed run: removed
    (tmp_path / ".reports.v2.k1lled0_.staging").mkdir()  # a sibling folder's (reports.v2): kept
    owns = lambda name: name == "report.json" or name.startswith("per-problem-")  # noqa: E731
    with atomic_entries(out, owns=owns) as staging:
        (staging / "report.json").write_text("new")
        (staging / "per-problem-6").mkdir()
        (staging / "per-problem-6" / "report.json").write_text("new 6")
    assert sorted(p.name for p in out.iterdir()) == ["per-problem-6", "report.json", "rerank.csv"]
    assert [(out / "report.json").read_text(), (out / "per-problem-6" / "report.json").read_text()] == ["new", "new 6"]
    assert (out / "rerank.csv").read_text() == "another writer's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".reports.v2.k1lled0_.staging", "reports"]
    (tmp_path / ".reports.v2.k1lled0_.staging").rmdir()

    with pytest.raises(RuntimeError), atomic_entries(out, owns=owns) as staging:
        (staging / "report.json").write_text("half")
        raise RuntimeError("a later size failed")
    assert (out / "report.json").read_text() == "new" and (out / "per-problem-6").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]
