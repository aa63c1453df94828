from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest

from dreamprm.data import livecodebench as L
from dreamprm.errors import InputDataError, ServiceUnavailable
from tests.data.conftest import lcb_record


def test_release_names_and_increments():
    assert L.release_files("release_v3") == ["test.jsonl", "test2.jsonl", "test3.jsonl"]
    assert L.release_files("release_latest") == L.release_files("release_v6")
    assert L.release_files("v2") == ["test2.jsonl"] == L.release_files("test2")
    assert L.release_files("v1") == ["test.jsonl"]
    assert L.release_files("v5,v6") == ["test5.jsonl", "test6.jsonl"]


def test_unknown_release_lists_valid_names():
    with pytest.raises(InputDataError) as e:
        L.release_files("release_v9")
    assert "release_v9" in str(e.value) and "release_v6" in str(e.value) and "test6" in str(e.value)


def test_load_release_from_local_folder(lcb_dir: Path):
    df = L.load_problems(L.local_release_files(lcb_dir, "release_v3"))
    assert list(df["problem_id"]) == ["abc100_a", "3001", "abc300_b", "abc350_c"]
    assert list(df["release"]) == ["release_v1", "release_v1", "release_v2", "release_v3"]
    row = df.set_index("problem_id").loc["abc300_b"]  # compressed private tests decoded
    assert json.loads(row["private_tests"]) == [{"input": "2 2\n", "output": "4\n", "testtype": "stdin"}]
    fn = df.set_index("problem_id").loc["3001"]
    assert fn["test_type"] == "functional" and fn["func_name"] == "add" and fn["has_tests"]
    assert str(df["contest_date"].dt.tz) == "UTC"
    only_new = L.load_problems(L.local_release_files(lcb_dir, "v2"))
    assert list(only_new["problem_id"]) == ["abc300_b"]


def test_date_window(lcb_dir: Path):
    df = L.load_problems(L.local_release_files(lcb_dir, "release_v6"), since="2024-04-01", until="2024-08-01")
    assert set(df["problem_id"]) == {"abc300_b", "abc350_c", "abc370_c"}


def test_decode_private_tests_both_encodings():
    tests = [{"input": "x", "output": "y", "testtype": "stdin"}]
    import pickle

    enc = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()
    assert L.decode_private_tests(json.dumps(tests)) == tests == L.decode_private_tests(enc)
    with pytest.raises(ValueError):
        L.decode_private_tests("not-base64!!")


def test_pickle_with_globals_is_refused():
    import pickle

    evil = base64.b64encode(zlib.compress(pickle.dumps(Path("/tmp")))).decode()
    with pytest.raises(ValueError, match="refusing"):
        L.decode_private_tests(evil)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize("case, field, line", [
    ("truncated", "<line>", 2), ("bad_base64", "private_test_cases", 2), ("missing_id", "question_id", 2),
    ("bad_difficulty", "difficulty", 1), ("bad_date", "contest_date", 2),
])
def test_malformed_lines_name_file_line_field(tmp_path: Path, case: str, field: str, line: int):
    good = json.dumps(lcb_record("a1", "2024-01-01T00:00:00"))
    bad = lcb_record("a2", "2024-01-02T00:00:00", compressed=True)
    if case == "truncated":
        text = json.dumps(bad)[:-40]
    elif case == "bad_base64":
        bad["private_test_cases"] = "eJzT###notbase64"
        text = json.dumps(bad)
    elif case == "missing_id":
        del bad["question_id"]
        text = json.dumps(bad)
    elif case == "bad_difficulty":
        rec = lcb_record("a0", "2024-01-01T00:00:00", difficulty="extreme")
        _write(tmp_path / "test.jsonl", [json.dumps(rec)])
        text = None
    else:
        bad["contest_date"] = "yesterday-ish"
        text = json.dumps(bad)
    if text is not None:
        _write(tmp_path / "test.jsonl", [good, text])
    with pytest.raises(InputDataError) as e:
        L.load_problems([tmp_path / "test.jsonl"])
    msg = str(e.value)
    assert str(tmp_path / "test.jsonl") in msg and f"line {line}" in msg and repr(field) in msg
    assert (e.value.line, e.value.field) == (line, field)


def test_missing_local_folder_and_file(tmp_path: Path, lcb_dir: Path):
    with pytest.raises(InputDataError, match="does not exist"):
        L.local_release_files(tmp_path / "nope", "release_v1")
    (lcb_dir / "test3.jsonl").unlink()
    with pytest.raises(InputDataError, match="test3.jsonl"):
        L.local_release_files(lcb_dir, "release_v3")


def test_unreachable_hub_fails_fast_naming_local_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Fast by construction, not by the clock: one probe connect with the short timeout, then the error; every
    connect has a short timeout and the download (whose retries would take minutes) is never attempted."""
    import socket

    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    connects: list[tuple[object, object]] = []
    real_connect = socket.create_connection
    monkeypatch.setattr(socket, "create_connection",
                        lambda address, timeout=None, *a, **k: connects.append((address, timeout))
                        or real_connect(address, timeout, *a, **k))
    downloads: list[bool] = []
    real_download = huggingface_hub.hf_hub_download
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda *a, **k: downloads.append(bool(k.get("local_files_only"))) or real_download(*a, **k))
    with pytest.raises(ServiceUnavailable) as e:
        L.resolve_release_files("release_v1", source="hub", timeout_s=2, local_dir=None)
    assert connects.count((("127.0.0.1", 9), 2)) == 1  # the probe (huggingface_hub may look up its own registry)
    assert all(timeout is not None and timeout <= 5 for _, timeout in connects)  # no connect can hang
    assert downloads and all(downloads)  # only the local cache was looked at
    assert L.LOCAL_DIR_ENV in str(e.value)
