"""One identity per stage: config + input contents + code version; it changes exactly when the stage's result can."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
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


# How code reads the settings: ``s.<section>``, ``settings.<section>``, ``get_settings().<section>``.
_SETTINGS_READ = re.compile(r"\b(?:s|settings|get_settings\(\))\.(livecodebench|sandbox|policy|prm|seed)\b")


@pytest.mark.parametrize("stage", sorted(ident.STAGE_CODE))
def test_stage_settings_hold_every_section_the_stage_reads(stage: str) -> None:
    """DVC sees a settings value only through STAGE_SETTINGS: a section the stage's code (its runner, every module it
    runs, its flow and its command) reads but the list leaves out would let `dvc repro` skip a stage whose output a
    changed default or DREAMPRM_ variable changes."""
    runner = STAGE_RUNNERS.get(stage, ident.PACKAGE_DIR / "stages" / f"{stage}.py")
    command = "execute" if stage == "probe" else stage
    files = {ident.PACKAGE_DIR / r for r in _sources_reached(runner) if r != "sandbox"}
    files |= {runner, REPO / "flows" / f"{command}.py", ident.PACKAGE_DIR / "cli" / f"{command}.py"}
    read = {m.group(1): f.name for f in sorted(files) for m in _SETTINGS_READ.finditer(f.read_text())}
    assert read, (stage, "the scan found no settings read: is the pattern stale?")
    missing = sorted(set(read) - set(ident.STAGE_SETTINGS[stage]))
    assert not missing, f"STAGE_SETTINGS[{stage!r}] lacks {missing}, read in {[read[m] for m in missing]}"


def test_dvc_stages_take_their_settings_from_the_settings_stage() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages["settings"]["always_changed"] is True
    assert stages["settings"]["cmd"] == "dreamprm info --write data/settings.json"
    assert set(ident.STAGE_CODE) <= set(stages)
    for dvc_stage in set(stages) - {"settings"}:
        stage = {"train-orm": "train"}.get(dvc_stage, dvc_stage)
        spec = stages[dvc_stage]["do"] if "do" in stages[dvc_stage] else stages[dvc_stage]
        from_settings = [p["data/settings.json"] for p in spec["params"] if isinstance(p, dict)]
        assert from_settings == [list(ident.STAGE_SETTINGS[stage])], dvc_stage


def _dvc(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    environ = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=environ, capture_output=True, text=True)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_dvc_reruns_a_stage_when_a_setting_it_reads_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real DVC on the project's dvc.yaml: the settings stage writes the resolved settings; fetch, committed as run,
    is up to date while nothing it reads changed (another section, an output-neutral value) and out of date, naming
    the changed section, once DREAMPRM_LIVECODEBENCH__CUTOFF_DATE moves."""
    for name in [k for k in os.environ if k.startswith("DREAMPRM_")]:
        monkeypatch.delenv(name)
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "ci@example.invalid"], ["config", "user.name", "ci"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    _dvc(repo, "init", "-q")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, repo / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ident.PACKAGE_DIR, repo / "dreamprm", ignore=ignore)
    for out in ("problems.parquet", "candidates.parquet", "split_manifest.json", "fetch_summary.json"):
        (repo / "data").mkdir(exist_ok=True)
        (repo / "data" / out).write_text("{}")
    _dvc(repo, "repro", "--single-item", "settings")
    written = json.loads((repo / "data" / "settings.json").read_text())
    assert written["livecodebench"]["cutoff_date"] == "2024-08-01" and "paths" not in written
    _dvc(repo, "commit", "--force", "fetch")
    assert "fetch" not in _dvc(repo, "status", "fetch")

    def fetch_status_after(**env: str) -> str:
        _dvc(repo, "repro", "--single-item", "settings", env=env)
        return _dvc(repo, "status", "fetch")

    assert "fetch" not in fetch_status_after(DREAMPRM_SANDBOX__BACKEND="bwrap", DREAMPRM_SANDBOX__WORKERS="8")
    changed = fetch_status_after(DREAMPRM_LIVECODEBENCH__CUTOFF_DATE="2024-09-01")
    assert "fetch" in changed and "livecodebench" in changed, changed


def test_file_digest_remembers_settled_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A settled file is hashed once per stat signature; a rewrite (new inode, or in place) is hashed again."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"weights")
    opened: list[str] = []
    real_open = open

    def counting_open(path, *a, **k):  # type: ignore[no-untyped-def]
        opened.append(str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(ident, "_RACY_NS", 0)  # every file counts as settled
    monkeypatch.setattr("builtins.open", counting_open)
    first = ident.file_digest(folder)
    assert ident.file_digest(folder) == first and len(opened) == 1  # the second digest read nothing
    tmp = folder / "w.tmp"
    tmp.write_bytes(b"weightz")
    tmp.replace(folder / "w.bin")  # write, then rename: a new inode
    assert ident.file_digest(folder) != first and len(opened) == 2

    monkeypatch.setattr(ident, "_RACY_NS", 10**12)  # every file counts as just changed: never remembered
    f = tmp_path / "x.bin"
    f.write_bytes(b"1")
    d1 = ident.file_digest(f)
    f.write_bytes(b"2")  # in place, same size, maybe the same timestamp tick
    assert ident.file_digest(f) != d1


def test_stage_parameters_identity_and_the_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs count by content, neutral parameters not at all; the Prefect key adds the neutral ones, so a result
    stored elsewhere is not served from the cache, while the identity (the MLflow tag) stays the same. A settings
    value the stage reads (the ones DVC sees) changes both; an output-neutral one changes neither."""
    from types import SimpleNamespace

    from flows._common import inputs_cache_key

    def task_fn(labels_path: str, out_dir: str, lr: float) -> None: ...

    params = ident.StageParameters("train", inputs=("labels_path",), neutral=("out_dir",))
    (tmp_path / "a.parquet").write_bytes(b"rows")
    (tmp_path / "b.parquet").write_bytes(b"rows")
    base = {"labels_path": str(tmp_path / "a.parquet"), "out_dir": "m1", "lr": 1e-3}
    key = inputs_cache_key(params)
    ctx = SimpleNamespace(task=SimpleNamespace(fn=task_fn))
    moved = {**base, "labels_path": str(tmp_path / "b.parquet")}
    assert params.identity(moved) == params.identity(base) and key(ctx, moved) == key(ctx, base)
    elsewhere = {**base, "out_dir": "m2"}
    assert params.identity(elsewhere) == params.identity(base) and key(ctx, elsewhere) != key(ctx, base)
    other_lr = {**base, "lr": 2e-3}
    assert params.identity(other_lr) != params.identity(base) and key(ctx, other_lr) != key(ctx, base)
    (tmp_path / "b.parquet").write_bytes(b"other rows")
    assert params.identity(moved) != params.identity(base)

    from dreamprm.settings import get_settings

    def identity_with(env: dict[str, str]) -> str:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return params.identity(base)

    try:
        before = identity_with({})
        assert identity_with({"DREAMPRM_SANDBOX__TEST_TIMEOUT_S": "9"}) == before  # train reads no sandbox setting
        assert identity_with({"DREAMPRM_PRM__NUM_LAYERS": "3"}) != before
        monkeypatch.delenv("DREAMPRM_PRM__NUM_LAYERS")
        assert identity_with({"DREAMPRM_SEED": "5"}) != before
    finally:  # no changed settings leak into later tests, whatever failed
        for name in ("DREAMPRM_PRM__NUM_LAYERS", "DREAMPRM_SEED", "DREAMPRM_SANDBOX__TEST_TIMEOUT_S"):
            monkeypatch.delenv(name, raising=False)
        get_settings.cache_clear()


def test_stage_parameters_count_each_folder_of_a_mapping_input_and_derived_values(tmp_path: Path) -> None:
    """Evaluate's scorers (name -> model folder) count by name and content, a read-beside None is skipped, and the
    registry versions it derives change the identity (they decide a promotion)."""
    params = ident.StageParameters("evaluate", inputs=("scorers",), neutral=("out_dir",))
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "w.bin").write_bytes(b"w")
    base = {"scorers": {"orm": str(tmp_path / "a")}, "out_dir": "r1"}
    same = params.identity(base, read_beside={"champion": None})
    assert same == params.identity({**base, "scorers": {"orm": str(tmp_path / "b")}, "out_dir": "r2"})
    assert same != params.identity({**base, "scorers": {"prm-none": str(tmp_path / "a")}})  # another model name
    (tmp_path / "c" / "w.bin").write_bytes(b"other weights")
    assert same != params.identity({**base, "scorers": {"orm": str(tmp_path / "c")}})
    assert same != params.identity(base, read_beside={"champion": str(tmp_path / "a")})
    assert same != params.identity(base, derived={"champion_version": "3"})


@pytest.mark.parametrize("stage", ["generate", "label", "train", "correct", "fuse", "evaluate"])
def test_each_stage_task_and_its_runner_share_parameter_names(stage: str) -> None:
    """The flow's cache key (train, correct, fuse) reads the task's parameters and the runner tags its run from its
    own: one identity only if the names are the same, every input or neutral name is one of them, and the runner
    hands every parameter to the identity."""
    import importlib
    import inspect

    flow_mod = importlib.import_module(f"flows.{stage}")
    stage_mod = importlib.import_module(f"dreamprm.stages.{stage}")
    task_names = list(inspect.signature(getattr(flow_mod, f"{stage}_task").fn).parameters)
    runner_names = [n for n in inspect.signature(getattr(stage_mod, f"run_{stage}")).parameters if n != "progress"]
    params = getattr(stage_mod, f"{stage.upper()}_PARAMETERS")
    assert task_names == runner_names and params.stage == stage
    assert set(params.inputs) | set(params.neutral) <= set(task_names)
    # The runner takes its parameters whole, before binding anything else, and hands exactly that to identity().
    runner = ast.parse(inspect.getsource(getattr(stage_mod, f"run_{stage}"))).body[0]
    body = [n for n in runner.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert ast.unparse(body[0]) == "call = task_call(locals())", f"run_{stage} must start with it"
    calls = [n for n in ast.walk(runner) if isinstance(n, ast.Call) and ast.unparse(n.func).endswith(".identity")]
    assert calls and all(ast.unparse(c.args[0]) == "call" for c in calls), f"run_{stage} must pass `call`"
    assert ident.task_call({"a": 1, "progress": print}) == {"a": 1}
