"""DESIGN.md's layering, enforced: dreamprm never imports flows (nor prefect at module level); sandbox imports none of
dreamprm, flows, torch or prefect; the stage flows are thin adapters over dreamprm.stages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGE_FLOWS = ("generate", "label", "train", "correct", "fuse", "evaluate")


def _imports(path: Path, top_level_only: bool = False) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
    return out


def _offenders(package: str, banned: tuple[str, ...], top_level_only: bool = False) -> list[str]:
    bad = []
    for path in sorted((REPO / package).rglob("*.py")):
        for mod, line in _imports(path, top_level_only):
            if mod.split(".")[0] in banned:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {mod}")
    return bad


def test_dreamprm_never_imports_flows() -> None:
    assert _offenders("dreamprm", ("flows",)) == []


def test_dreamprm_does_not_import_prefect_at_module_level() -> None:
    assert _offenders("dreamprm", ("prefect",), top_level_only=True) == []


def test_sandbox_stands_alone() -> None:
    assert _offenders("sandbox", ("dreamprm", "flows", "torch", "prefect")) == []


@pytest.mark.parametrize("stage", STAGE_FLOWS)
def test_stage_flows_are_thin_adapters_over_dreamprm_stages(stage: str) -> None:
    path = REPO / "flows" / f"{stage}.py"
    assert f"dreamprm.stages.{stage}" in {m for m, _ in _imports(path)}, f"{path} does not call its stage"
    tree = ast.parse(path.read_text())
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
        assert length <= 40, f"{path.name}:{fn.name} is {length} lines: stage logic belongs in dreamprm/stages"


def test_the_cli_finds_every_stage_flow_through_entry_points() -> None:
    from dreamprm.cli._common import stage_flow

    for name in (*STAGE_FLOWS, "fetch", "execute", "pipeline"):
        assert callable(stage_flow(name)), name
