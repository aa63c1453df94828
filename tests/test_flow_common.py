"""Stage cache keys: content fingerprints survive a rewrite with the same bytes; mtime fingerprints do not."""

from __future__ import annotations

import os
from pathlib import Path

from flows._common import fingerprint


def test_content_fingerprint_ignores_rewrites_with_the_same_bytes(tmp_path: Path) -> None:
    f = tmp_path / "labels.parquet"
    f.write_bytes(b"abc")
    by_content, by_stat = fingerprint([f], content=True), fingerprint([f])
    f.write_bytes(b"abc")
    os.utime(f, ns=(1, 1))  # a rewrite: same bytes, another mtime
    assert fingerprint([f], content=True) == by_content
    assert fingerprint([f]) != by_stat
    f.write_bytes(b"abd")
    assert fingerprint([f], content=True) != by_content


def test_folders_are_fingerprinted_recursively_and_missing_files_count(tmp_path: Path) -> None:
    d = tmp_path / "final"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "model.safetensors").write_bytes(b"w1")
    before = fingerprint([d], content=True)
    (d / "sub" / "model.safetensors").write_bytes(b"w2")
    assert fingerprint([d], content=True) != before
    assert fingerprint([tmp_path / "nope"], content=True) != fingerprint([d], content=True)
