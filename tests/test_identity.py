"""One identity per stage: config + input contents + code version; it changes exactly when the stage's result can."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dreamprm import identity as ident

REPO = Path(__file__).resolve().parents[1]


def test_identity_moves_with_config_inputs_and_code(monkeypatch: pytest.MonkeyPatch) -> None:
    base = ident.stage_identity("train", {"lr": 1e-4, "seed": 0}, {"labels": "abc"})
    assert ident.stage_identity("train", {"seed": 0, "lr": 1e-4}, {"labels": "abc"}) == base  # order-free
    assert ident.stage_identity("train", {"lr": 2e-4, "seed": 0}, {"labels": "abc"}) != base
    assert ident.stage_identity("train", {"lr": 1e-4, "seed": 1}, {"labels": "abc"}) != base
    assert ident.stage_identity("train", {"lr": 1e-4, "seed": 0}, {"labels": "abd"}) != base
    monkeypatch.setattr(ident, "code_version", lambda stage: "edited")
    assert ident.stage_identity("train", {"lr": 1e-4, "seed": 0}, {"labels": "abc"}) != base


def test_code_version_covers_the_stage_sources_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the package: editing prm/model.py changes train's code version, not fetch's."""
    import shutil

    pkg = tmp_path / "dreamprm"
    shutil.copytree(ident.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ident.SANDBOX_DIR, tmp_path / "sandbox", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(ident, "PACKAGE_DIR", pkg)
    monkeypatch.setattr(ident, "SANDBOX_DIR", tmp_path / "sandbox")
    ident.code_version.cache_clear()
    before = {s: ident.code_version(s) for s in ident.STAGE_CODE}
    with open(pkg / "prm" / "model.py", "a") as f:
        f.write("\n# an edit\n")
    ident.code_version.cache_clear()
    after = {s: ident.code_version(s) for s in ident.STAGE_CODE}
    changed = {s for s in before if before[s] != after[s]}
    assert changed == {"train", "correct", "evaluate", "fuse"}
    ident.code_version.cache_clear()


def test_frame_and_file_digests(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2]})
    assert ident.frame_digest(df) == ident.frame_digest(df.copy())
    assert ident.frame_digest(df) != ident.frame_digest(df.iloc[::-1])
    f = tmp_path / "x.bin"
    f.write_bytes(b"1")
    d1 = ident.file_digest(f)
    f.write_bytes(b"1")
    assert ident.file_digest(f) == d1
    f.write_bytes(b"2")
    assert ident.file_digest(f) != d1 and ident.file_digest(tmp_path / "nope") == "missing"


def test_dvc_deps_track_the_same_code_as_the_identity() -> None:
    """DVC recomputes a stage when its code changes: dvc.yaml's deps name every source path of STAGE_CODE."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage, paths in ident.STAGE_CODE.items():
        spec = stages[stage]["do"] if "do" in stages[stage] else stages[stage]
        deps = {re.sub(r"/$", "", d) for d in spec["deps"]}
        wanted = {p if p == "sandbox" else f"dreamprm/{p}" for p in paths}
        assert wanted <= deps, (stage, sorted(wanted - deps))
