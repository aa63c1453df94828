"""One identity per stage: config + input contents + code version; it changes exactly when the stage's result can."""

from __future__ import annotations

import ast
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
    with open(pkg / "stages" / "evaluate.py", "a") as f:  # a stage's runner is part of its own identity only
        f.write("\n# an edit\n")
    ident.code_version.cache_clear()
    again = {s: ident.code_version(s) for s in ident.STAGE_CODE}
    assert {s for s in after if after[s] != again[s]} == {"evaluate"}
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
    """DVC recomputes a stage when its code changes: dvc.yaml's deps name every source path of STAGE_CODE (the ORM's
    training with train's)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for dvc_stage, stage in [*((s, s) for s in ident.STAGE_CODE), ("train-orm", "train")]:
        spec = stages[dvc_stage]["do"] if "do" in stages[dvc_stage] else stages[dvc_stage]
        deps = {re.sub(r"/$", "", d) for d in spec["deps"]}
        wanted = {p if p == "sandbox" else f"dreamprm/{p}" for p in ident.STAGE_CODE[stage]}
        assert wanted <= deps, (dvc_stage, sorted(wanted - deps))


def _module_file(module: str) -> Path | None:
    """The source file of a ``dreamprm`` module (its ``__init__.py`` for a package); None for a name inside one."""
    base = ident.PACKAGE_DIR.joinpath(*module.split(".")[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def _dreamprm_imports(source: Path) -> set[str]:
    """The ``dreamprm`` modules a file imports anywhere in it (function-level imports too), and ``sandbox`` for any
    import of the sibling package (STAGE_CODE names it whole). The package uses absolute imports only."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{source}:{node.lineno}: a relative import the walk would not follow"
            top = (node.module or "").split(".")[0]
            if top == "sandbox":
                found.add("sandbox")
            elif top == "dreamprm":
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}")}
        elif isinstance(node, ast.Import):
            found |= {"sandbox" if a.name.split(".")[0] == "sandbox" else a.name for a in node.names
                      if a.name.split(".")[0] in ("dreamprm", "sandbox")}
    return found


def _sources_reached(runner: Path) -> set[str]:
    """Package-relative paths of the modules ``runner`` imports, directly or through others; the walk stops at an
    OUTPUT_NEUTRAL module, whose own imports serve its checking or logging."""
    reached: set[str] = set()
    todo, seen = sorted(_dreamprm_imports(runner)), set()
    while todo:
        module = todo.pop()
        if module == "sandbox":  # the sibling package, covered whole
            reached.add("sandbox")
            continue
        path = _module_file(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        rel = path.relative_to(ident.PACKAGE_DIR).as_posix()
        if rel not in ident.OUTPUT_NEUTRAL:
            reached.add(rel)
            todo.extend(sorted(_dreamprm_imports(path)))
    return reached


STAGE_RUNNERS = {"fetch": REPO / "flows" / "fetch.py", "execute": REPO / "flows" / "execute.py",
                 "probe": REPO / "flows" / "execute.py"}


@pytest.mark.parametrize("stage", sorted(ident.STAGE_CODE))
def test_stage_code_holds_every_module_the_stage_runs(stage: str) -> None:
    """A module a stage runs but its identity leaves out is a stale cache waiting to happen: editing it would change
    the stage's output while the Prefect cache, DVC and resume still serve the old one."""
    runner = STAGE_RUNNERS.get(stage, ident.PACKAGE_DIR / "stages" / f"{stage}.py")
    reached = _sources_reached(runner)
    if runner.is_relative_to(ident.PACKAGE_DIR):
        reached.add(runner.relative_to(ident.PACKAGE_DIR).as_posix())
    assert len(reached) >= 3, (stage, reached)  # the walk found the stage's modules
    covered = ident.STAGE_CODE[stage]
    missing = sorted(r for r in reached if not any(r == c or r.startswith(f"{c}/") for c in covered))
    assert not missing, f"dreamprm/identity.py STAGE_CODE[{stage!r}] lacks {missing}"


def test_the_import_walk_finds_a_module_reached_only_through_another() -> None:
    """The walk follows imports inside function bodies and through intermediate modules (evaluate reaches
    execution.py only through evaluate/scoring.py), and stops at the neutral modules."""
    reached = _sources_reached(ident.PACKAGE_DIR / "stages" / "evaluate.py")
    assert {"evaluate/scoring.py", "execution.py", "data/probes.py", "sandbox"} <= reached
    assert not reached & set(ident.OUTPUT_NEUTRAL)
