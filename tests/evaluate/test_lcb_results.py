"""benchmarks/lcb_results.py: the headline table is read from the reports, every row kept, bad reports named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import lcb_results  # noqa: E402
from dreamprm.errors import InputDataError  # noqa: E402

HYBRID = lcb_results.ADOPTED_HYBRID


def _p(estimate: float, low: float, high: float) -> dict:
    return {"estimate": estimate, "low": low, "high": high}


def _report(n: int, n_problems: int, methods: dict[str, float], differences: dict[str, dict],
            ceiling: float | None) -> dict:
    report = {"n_problems": n_problems, "candidates_per_problem": {"max": n, "min": n, "mean": float(n)},
              "differences": differences,
              "methods": {m: {"pass_at_1": _p(v, v - 0.05, v + 0.05)} for m, v in methods.items()}}
    if ceiling is not None:
        report["consensus"] = {"tie_break_ceiling": ceiling}
    return report


def _write_reports(root: Path, *, with_models_at_6: bool = True) -> None:
    n60 = _report(60, 11, {"random": 0.2, "filter:random": 0.3, HYBRID: 0.32, "oracle": 0.35},
                  {f"{HYBRID} - filter:random": _p(0.02, -0.01, 0.05)}, ceiling=0.33)
    at6 = {"random": 0.2, "filter:random": 0.28, HYBRID: 0.29, "oracle": 0.3}
    if with_models_at_6:
        at6 |= {"orm:min": 0.19, "prm-none:mean": 0.21}
    n6 = _report(6, 12, at6, {"prm-none:mean - random": _p(0.01, -0.02, 0.04),
                              "prm-none:mean - orm:min": _p(0.02, 0.001, 0.05),
                              f"{HYBRID} - random": _p(0.09, 0.06, 0.12),
                              f"{HYBRID} - filter:random": _p(-0.0001, -0.004, 0.016),
                              "filter:random - random": _p(0.08, 0.05, 0.11)}, ceiling=0.3)
    window = _report(5, 20, {"random": 0.29, "filter:random": 0.5, "oracle": 0.57}, {}, ceiling=None)
    for (rel, _), report in zip(lcb_results.REPORTS.values(), (n60, n6, window)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(report))


def _rows(text: str) -> dict[str, list[str]]:
    """Table rows by label, as their cells (label first)."""
    return {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split(" | ")]
                                          for line in text.splitlines() if line.startswith("| "))}


def test_each_cell_is_read_from_its_columns_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_reports(tmp_path)
    assert lcb_results.main(["--root", str(tmp_path)]) == 0
    text = (tmp_path / "reports" / "results.md").read_text()
    assert capsys.readouterr().out == text
    rows = _rows(text)
    assert rows["selector"] == ["selector", "N=60 (11 problems)", "N=6 (12 problems)", "window (20 problems)", "needs"]
    assert [label for label in rows if label != "selector"] == [label for label, _, _ in lcb_results.ROWS]
    hybrid = rows[f"**{HYBRID}**, the adopted hybrid"]
    assert hybrid[1] == "32.0 [27.0, 37.0]; +2.0 [-1.0, 5.0] vs filter:random"
    # at N=6 a hybrid is compared with random (the column's reference) and with the filter; -0.01 points prints as 0.0
    assert hybrid[2] == "29.0 [24.0, 34.0]; +9.0 [6.0, 12.0] vs random; +0.0 [-0.4, 1.6] vs filter:random"
    assert hybrid[3] == "not in this report"
    prm = rows["PRM corrected, none (mean)"]
    assert prm[1:4] == ["not in this report",
                        "21.0 [16.0, 26.0]; +1.0 [-2.0, 4.0] vs random; +2.0 [0.1, 5.0] vs orm:min",
                        "not in this report"]
    # a method is never compared with itself
    assert rows["example filter, then random"][2] == "28.0 [23.0, 33.0]; +8.0 [5.0, 11.0] vs random"
    assert rows["random (expected)"][2] == "20.0 [15.0, 25.0]"
    assert rows["tie-break ceiling of consensus (a perfect tie-breaker)"][1:4] == ["33.0", "30.0",
                                                                                 "no probes in this run"]


def test_a_model_not_trained_in_this_run_is_a_cell_that_says_so(tmp_path: Path) -> None:
    _write_reports(tmp_path, with_models_at_6=False)
    lcb_results.main(["--root", str(tmp_path), "--output", "out.md"])
    rows = _rows((tmp_path / "out.md").read_text())
    assert rows["ORM alone (min)"][1:4] == ["not in this report"] * 3


def test_missing_broken_or_wrong_size_report_is_named(tmp_path: Path) -> None:
    _write_reports(tmp_path)
    window = tmp_path / "reports-window" / "report.json"
    window.unlink()
    with pytest.raises(InputDataError, match=r"reports-window/report\.json.*no report here"):
        lcb_results.main(["--root", str(tmp_path)])
    assert not (tmp_path / "reports" / "results.md").exists()
    for bad, field in (('{"n_problems": 3}', "methods"), ("[1, 2]", "methods")):
        window.write_text(bad)
        with pytest.raises(InputDataError, match=rf"reports-window/report\.json.*field '{field}'"):
            lcb_results.main(["--root", str(tmp_path)])
    # a best-of-6 report left where best-of-60 belongs (e.g. after `make eval-lcb LCB_SIZES=6`)
    _write_reports(tmp_path)
    (tmp_path / "reports" / "all" / "report.json").write_text((tmp_path / "reports" / "report.json").read_text())
    with pytest.raises(InputDataError, match=r"all/report\.json.*best-of-6 report where best-of-60 belongs"):
        lcb_results.main(["--root", str(tmp_path)])


def test_readme_table_is_this_scripts_table() -> None:
    """The README's results table has this script's rows, in its order (its figures come from a run's reports)."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| selector | N=60 (175 problems) | N=6 (175 problems) | window (279 problems) | needs |")
    table = readme[start:readme.index("\n\n", start)]
    assert [label for label in _rows(table) if label != "selector"] == [label for label, _, _ in lcb_results.ROWS]
