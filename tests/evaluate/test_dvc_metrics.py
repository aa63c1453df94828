"""`dvc metrics diff` on the project's own dvc.yaml shows what changed between two evaluations (real git + DVC)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dreamprm.evaluate.report import build_report, dvc_metrics
from dreamprm.io import write_json

ROOT = Path(__file__).resolve().parents[2]


def _report(correct_score: float) -> dict:
    """Two problems, one passing candidate each; the PRM ranks p2's passing candidate by ``correct_score``."""
    rows = [("p1", "a", True, 0.9), ("p1", "b", False, 0.1), ("p2", "a", True, correct_score), ("p2", "b", False, 0.5)]
    frame = pd.DataFrame([{"problem_id": p, "difficulty": "easy", "candidate_id": c, "sample_index": i % 2,
                           "passed": ok, "signature": None, "scores:prm": [s]} for i, (p, c, ok, s) in enumerate(rows)])
    return build_report(frame, aggregations=("last",), n_resamples=200, curve_ns=(1, 2), curve_subsamples=4,
                        calibration_bins=2, seed=0)


def _run(cwd: Path, *args: str) -> str:
    return subprocess.run(list(args), cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_metrics_diff_between_two_evaluations(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _run(repo, "git", "init", "-q")
    _run(repo, "git", "config", "user.email", "ci@example.invalid")
    _run(repo, "git", "config", "user.name", "ci")
    _run(repo, sys.executable, "-m", "dvc", "init", "-q")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, repo / name)
    metrics = repo / "reports" / "metrics.json"
    before, after = _report(0.2), _report(0.8)  # the PRM picks p2's failing, then its passing candidate
    write_json(dvc_metrics(before), metrics)
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-q", "-m", "first evaluation")
    write_json(dvc_metrics(after), metrics)

    diff = json.loads(_run(repo, sys.executable, "-m", "dvc", "metrics", "diff", "--json"))["reports/metrics.json"]
    assert diff["pass_at_1.prm:last"] == {"old": 0.5, "new": 1.0, "diff": 0.5}
    assert diff["difference.prm:last - random"]["diff"] == pytest.approx(0.5)
    assert "pass_at_1.random" not in diff  # unchanged methods are not listed (dvc's default)
    shown = json.loads(_run(repo, sys.executable, "-m", "dvc", "metrics", "show", "--json"))
    read = shown[""]["data"]["reports/metrics.json"]["data"]  # the workspace copy, found through dvc.yaml
    assert read["pass_at_1"]["prm:last"] == 1.0 and read["problems"] == 2 and read["candidates"] == 4
