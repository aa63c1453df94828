"""The evaluate stage on bad input: each table it reads is checked when read, and an error names the file, the rows
and the check; a failure never leaves a half-rewritten reports folder; the report's rules say how problems without
candidates are counted. (Found by a review that fed the stage broken tables: before, a verdict stored as text
counted as a pass, rows of another candidates table were ignored and a crash between two sizes left one size new
and the other old.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from dreamprm.errors import InputDataError, ValidationFailed
from dreamprm.execution import execution_row
from dreamprm.stages.evaluate import run_evaluate
from tests.evaluate.test_eval_stage import _project


def _run(paths: dict[str, str], out: Path, sizes: str = "0", **kw) -> dict:
    return run_evaluate(**paths, scorers={}, out_dir=str(out), split="eval", challenger=None, aggregation="min",
                        n_resamples=20, per_problem=sizes, execution_only=True, **kw)


def _rewrite(path: str, change) -> None:
    table = pd.read_parquet(path)
    change(table)
    table.to_parquet(path, index=False)


def _failed(err: pytest.ExceptionInfo, path: str, check: str, row_id: str) -> None:
    text = str(err.value)
    assert path in text and check in text and row_id in text, text


def _set(column: str, value) -> object:
    """A rewrite of a table: ``column`` becomes ``value(table)``."""
    return lambda t: t.__setitem__(column, value(t))


@pytest.mark.parametrize("table, change, check, row_id", [
    pytest.param("candidates_path", _set("candidate_id", lambda t: t["candidate_id"].where(
        t["candidate_id"] != "p1-m-a-1", "p1-m-a-0")), "expect_column_values_to_be_unique", "p1-m-a-0",
        id="candidate-id-twice"),
    pytest.param("candidates_path", _set("sample_index", lambda t: t["sample_index"].map(str)),
                 "_check_sample_index_is_integer", "p1-m-a-0", id="sample-index-as-text"),
    pytest.param("candidates_path", _set("official_passed", lambda t: t["official_passed"].map(str)),
                 "_check_official_passed_is_bool", "p2-m-c-2", id="verdict-as-text"),
    pytest.param("executions_path", _set("problem_id", lambda t: t["problem_id"].where(
        t["candidate_id"] != "p1-m-b-2", "p2")), "_check_problem_is_the_candidates", "p1-m-b-2",
        id="execution-on-another-problem"),
    pytest.param("executions_path", _set("num_passed", lambda t: t["num_passed"].map(str)),
                 "_check_counts_are_integers", "p1-m-a-0", id="counts-as-text"),
])
def test_a_broken_table_is_refused_naming_file_check_and_row(project_root: Path, table: str, change, check: str,
                                                             row_id: str) -> None:
    """Each table is checked when read: the error names the file, the check and the row, and nothing is written.
    (An execution row on another problem than its candidate's would lend its verdict to the wrong program.)"""
    paths = _project(project_root)
    _rewrite(paths[table], change)
    with pytest.raises(ValidationFailed) as err:
        _run(paths, project_root / "reports")
    _failed(err, paths[table], check, row_id)
    assert not (project_root / "reports").exists()


def test_a_candidates_table_without_code_is_refused_naming_the_file(project_root: Path) -> None:
    paths = _project(project_root)
    _rewrite(paths["candidates_path"], lambda t: t.drop(columns="code", inplace=True))
    with pytest.raises(InputDataError, match=re.escape(paths["candidates_path"]) + ".*lacks columns .'code'."):
        _run(paths, project_root / "reports")


def test_execution_rows_of_other_candidates_are_counted_not_read(project_root: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A row naming no candidate of the table (one executions table may serve several candidate tables) is not
    read, and is counted in the report and said in the log."""
    paths = _project(project_root)
    base = _run(paths, project_root / "base")["sizes"]["all"]
    extra = execution_row({"candidate_id": "ghost", "problem_id": "p1"},
                          {"verdict": "passed", "num_tests": 2, "num_passed": 2, "per_test": []}, "docker", 2)
    _rewrite(paths["executions_path"], lambda t: t.loc.__setitem__(len(t), extra))
    with caplog.at_level("WARNING"):
        res = _run(paths, project_root / "reports")
    assert res["sizes"]["all"] == base  # nothing of it is read
    report = json.loads((project_root / "reports" / "report.json").read_text())
    assert report["n_rows_of_other_candidates"] == {"executions": 1}
    assert "1 rows of " + paths["executions_path"] + " name no candidate of the evaluated table (e.g. ghost)" \
        in caplog.text


def test_a_probe_time_that_is_not_a_number_of_seconds_is_an_error(project_root: Path) -> None:
    """NaN seconds would rank a survivor last, like a stopped run, without being counted as one."""
    from dreamprm.execution import restrict_to_survivors

    paths = _project(project_root)
    survivors = restrict_to_survivors(pd.read_parquet(paths["candidates_path"]), paths["executions_path"])
    probes = [execution_row(c, {"verdict": "passed", "num_tests": 1, "num_passed": 1, "per_test": [
        {"verdict": "passed", "stdout": "A", "cpu_s": {"p1-m-a-2": float("nan"), "p2-m-b-1": -1.0}.get(
            c["candidate_id"], 0.1), "time_s": 0.2}]}, "docker", public_tests=1) for c in survivors.to_dict("records")]
    probes_path = project_root / "data" / "probes.parquet"
    pd.DataFrame(probes).to_parquet(probes_path, index=False)
    with pytest.raises(InputDataError, match=r"candidate p1-m-a-2\): a probe record's cpu_s is not a finite") as err:
        _run(paths, project_root / "reports", probes_path=str(probes_path))
    assert "harness version 7" not in str(err.value)  # that hint is for a record without the field
    _rewrite(str(probes_path), lambda t: t.__setitem__("per_test", t["per_test"].str.replace("NaN", "0.1")))
    with pytest.raises(InputDataError, match=r"candidate p2-m-b-1\): a probe record's cpu_s is not a finite"):
        _run(paths, project_root / "reports", probes_path=str(probes_path))


def test_a_missing_verdict_in_a_nullable_boolean_column_is_a_missing_verdict(project_root: Path) -> None:
    """fetch writes official_passed as pandas' nullable boolean; read back, a missing verdict is pd.NA: a missing
    verdict (counted), not bad input."""
    paths = _project(project_root)
    _rewrite(paths["candidates_path"], lambda t: t.__setitem__("official_passed", pd.array(
        [None if cid == "p1-m-a-2" else v for cid, v in zip(t["candidate_id"], t["official_passed"])],
        dtype="boolean")))
    assert pd.read_parquet(paths["candidates_path"])["official_passed"].dtype == "boolean"
    _run(paths, project_root / "reports")
    report = json.loads((project_root / "reports" / "report.json").read_text())
    assert report["n_missing_verdicts"] == 1


def test_the_reports_folder_is_replaced_whole_or_not_at_all(project_root: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _project(project_root)
    out = project_root / "reports"
    _run(paths, out, sizes="0,3")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert Path("per-problem-3/report.json") in before

    # A failure while the second size is written (a double of the plotting, failing on its second call): the
    # folder keeps the first run's files, byte for byte, and no staging folder is left beside it.
    import dreamprm.evaluate.report as report_module

    real, calls = report_module.write_plots, []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(report_module, "write_plots", fail_second)
    _rewrite(paths["candidates_path"], lambda t: t.__setitem__("official_passed", t["sample_index"] >= 1))
    with pytest.raises(OSError, match="disk full"):
        _run(paths, out, sizes="0,3")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in project_root.iterdir() if p.name.startswith(".reports.")] == []  # no staging left
    monkeypatch.setattr(report_module, "write_plots", real)

    # A run with one size replaces the folder: the other size's folder of the earlier run does not stay behind.
    _run(paths, out, sizes="0")
    assert not (out / "per-problem-3").exists() and (out / "report.json").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["methods"]["random"]["pass_at_1"]["estimate"] == pytest.approx(2 / 3)  # the rewritten verdicts
    assert "n_problems_on_sides_without_candidates" in report["rules"]["problems_on_sides_without_candidates"]


def test_other_files_in_the_output_folder_are_left_alone(project_root: Path) -> None:
    """Evaluate replaces only its own files (another tool's table beside them stays), also in a folder that has no
    report yet, e.g. after DVC removed the outputs it declares."""
    paths = _project(project_root)
    out = project_root / "reports"
    out.mkdir()
    (out / "rerank.csv").write_text("keep me")
    (out / "calibration.png").write_bytes(b"an earlier run's plot")  # a report file this run does not draw
    _run(paths, out)
    assert (out / "rerank.csv").read_text() == "keep me"
    assert (out / "report.json").is_file() and not (out / "calibration.png").exists()
