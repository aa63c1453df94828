"""benchmarks/lcb_results.py: the headline table is read from the reports, every row kept, bad reports named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import lcb_results  # noqa: E402
from dreamprm.errors import InputDataError  # noqa: E402


def _p(estimate: float, low: float, high: float) -> dict:
    return {"estimate": estimate, "low": low, "high": high}


def _report(n_problems: int, methods: dict[str, float], differences: dict[str, dict], ceiling: float | None) -> dict:
    report = {"n_problems": n_problems, "differences": differences,
              "methods": {m: {"pass_at_1": _p(v, v - 0.05, v + 0.05)} for m, v in methods.items()}}
    if ceiling is not None:
        report["consensus"] = {"tie_break_ceiling": ceiling}
    return report


def _write_reports(root: Path, *, with_models_at_6: bool = True) -> None:
    n60 = _report(10, {"random": 0.2, "filter:random": 0.3, lcb_results.ADOPTED_HYBRID: 0.32, "oracle": 0.35},
                  {f"{lcb_results.ADOPTED_HYBRID} - filter:random": _p(0.02, -0.01, 0.05)}, ceiling=0.33)
    at6 = {"random": 0.2, "filter:random": 0.28, "oracle": 0.3}
    if with_models_at_6:
        at6 |= {"orm:min": 0.19, "prm-none:mean": 0.21}
    n6 = _report(10, at6, {"prm-none:mean - random": _p(0.01, -0.02, 0.04),
                           "prm-none:mean - orm:min": _p(0.02, 0.001, 0.05)}, ceiling=0.3)
    window = _report(20, {"random": 0.29, "filter:random": 0.5, "oracle": 0.57}, {}, ceiling=None)
    for rel, report in zip(lcb_results.REPORTS.values(), (n60, n6, window)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(report))


def test_table_reads_each_figure_from_its_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_reports(tmp_path)
    assert lcb_results.main(["--root", str(tmp_path)]) == 0
    text = (tmp_path / "reports" / "results.md").read_text()
    assert capsys.readouterr().out == text
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert len([r for r in rows if r != "selector" and not r.startswith("---")]) == len(lcb_results.ROWS)
    hybrid = rows[f"**{lcb_results.ADOPTED_HYBRID}**, the adopted hybrid"]
    assert "32.0 [27.0, 37.0]; +2.0 [-1.0, 5.0] vs filter:random" in hybrid
    prm = rows["PRM corrected, none (mean)"]
    assert "21.0 [16.0, 26.0]; +1.0 [-2.0, 4.0] vs random; +2.0 [0.1, 5.0] vs orm:min" in prm
    assert prm.count("not in this report") == 2  # scored at N=6 only: said so, not dropped
    ceiling = rows["tie-break ceiling of consensus (a perfect tie-breaker)"].split(" | ")
    assert ceiling[1:4] == ["33.0", "30.0", "no probes in this run"]
    assert "N=60 (10 problems)" in text and "window (20 problems)" in text


def test_a_model_not_trained_in_this_run_is_a_cell_that_says_so(tmp_path: Path) -> None:
    _write_reports(tmp_path, with_models_at_6=False)
    lcb_results.main(["--root", str(tmp_path), "--output", "out.md"])
    orm = next(line for line in (tmp_path / "out.md").read_text().splitlines() if line.startswith("| ORM alone"))
    assert orm.count("not in this report") == 3


def test_missing_or_broken_report_is_named(tmp_path: Path) -> None:
    _write_reports(tmp_path)
    (tmp_path / "reports-window" / "report.json").unlink()
    with pytest.raises(InputDataError, match=r"reports-window/report\.json.*no report here"):
        lcb_results.main(["--root", str(tmp_path)])
    assert not (tmp_path / "reports" / "results.md").exists()
    (tmp_path / "reports-window" / "report.json").write_text('{"n_problems": 3}')
    with pytest.raises(InputDataError, match=r"reports-window/report\.json.*field 'methods'"):
        lcb_results.main(["--root", str(tmp_path)])
