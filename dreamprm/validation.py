"""Great Expectations suites that guard the hand-off tables (problems, candidates).

Each suite runs in an ephemeral (in-memory) GX context on a pandas frame. Row-level checks that need Python (tests
decode, dates present where the source has them, ...) are computed into ``_check_*`` columns first, and GX expects
them to be True, so every failure is reported by GX with the ids of the offending rows. A failing suite raises
:class:`~dreamprm.errors.ValidationFailed` whose report names each failing expectation and up to 20 row ids.
Great Expectations is imported lazily (it costs about 3 s) and its progress bars are off.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dreamprm.data.schema import CANDIDATE_COLUMNS, DIFFICULTIES, PROBLEM_COLUMNS, SOURCES, TEST_TYPES
from dreamprm.errors import ValidationFailed

DATED_SOURCES = ("livecodebench",)
SPLITS = ("train", "meta", "eval")  # dreamprm.data.split.SIDES
MAX_IDS = 20


@dataclass
class SuiteResult:
    """The outcome of one suite: success, and per failing expectation a description and the offending ids."""

    suite: str
    success: bool
    evaluated: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"{self.suite}: {self.evaluated - len(self.failures)}/{self.evaluated} expectations passed"]
        for f in self.failures:
            ids = ", ".join(map(str, f["ids"][:MAX_IDS])) + (" ..." if len(f["ids"]) > MAX_IDS else "")
            lines.append(f"- FAILED {f['expectation']}({f['column'] or ''}): {f['count']} rows"
                         + (f"; ids: {ids}" if ids else "") + (f" [{f['note']}]" if f.get("note") else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "success": self.success, "evaluated": self.evaluated,
                "failures": [{**f, "ids": list(map(str, f["ids"][:MAX_IDS]))} for f in self.failures]}


def _tests_ok(row: Any) -> bool:
    try:
        tests = json.loads(row.public_tests) + json.loads(row.private_tests)
    except (TypeError, ValueError):
        return False
    if not isinstance(tests, list):
        return False
    if not row.has_tests:
        return len(tests) == 0
    return len(tests) > 0 and all(
        isinstance(t, dict) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str)
        and t.get("testtype") == row.test_type for t in tests)


def _problem_checks(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    dates = pd.to_datetime(out["contest_date"], utc=True, errors="coerce")
    out["_check_date_where_dated"] = ~(out["source"].isin(DATED_SOURCES) & dates.isna())
    out["_check_tests_decode"] = [_tests_ok(r) for r in out.itertuples(index=False)]
    out["_check_func_name"] = ~(out["test_type"].isin(["functional", "assert"]) & (out["func_name"] == ""))
    return out


def _candidate_checks(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    recorded = out["source_file"].fillna("") != ""
    out["_check_one_verdict"] = ~(recorded & out["official_passed"].isna())
    passed = out["official_passed"].fillna(False).astype(bool)
    out["_check_pass_code_zero"] = ~(passed & (out["official_error_code"].fillna(-99) != 0))

    def tests_ok(v: Any) -> bool:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return True
        try:
            return isinstance(json.loads(v), list)
        except (TypeError, ValueError):
            return False

    out["_check_test_results_decode"] = out["official_test_results"].map(tests_ok)
    # One verdict per code: the same program for the same problem never carries two different official verdicts.
    verdicts = out.groupby(["problem_id", "code"], dropna=False)["official_passed"].transform("nunique")
    out["_check_one_verdict_per_code"] = verdicts <= 1
    return out


def _run_suite(name: str, df: pd.DataFrame, id_column: str, expectations: list[Any]) -> SuiteResult:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for noisy in ("great_expectations", "great_expectations.core", "great_expectations.data_context",
                  "great_expectations.data_context.types.base"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_def = (ctx.data_sources.add_pandas(f"{name}_source").add_dataframe_asset(f"{name}_asset")
                 .add_batch_definition_whole_dataframe(f"{name}_batch"))
    suite = ctx.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{name}_vd", data=batch_def, suite=suite))
    result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": [id_column],
                     "partial_unexpected_count": MAX_IDS}
    res = vd.run(batch_parameters={"dataframe": df.reset_index(drop=True)}, result_format=result_format)
    failures = []
    for r in res.results:
        if r.success:
            continue
        cfg = r.expectation_config
        body = r.result or {}
        ids = [u.get(id_column) if isinstance(u, dict) else u for u in body.get("unexpected_index_list") or []]
        note = ""
        if r.exception_info and r.exception_info.get("raised_exception"):
            note = str(r.exception_info.get("exception_message"))[:300]
        elif not ids and body.get("observed_value") is not None:
            note = f"observed {str(body.get('observed_value'))[:300]}"
        failures.append({"expectation": cfg.type, "column": cfg.kwargs.get("column"),
                         "count": body.get("unexpected_count", len(ids)), "ids": ids, "note": note})
    return SuiteResult(name, bool(res.success), len(res.results), failures)


def validate_problems(problems: pd.DataFrame, *, raise_on_failure: bool = True) -> SuiteResult:
    """The problems suite: schema, unique ids, values in their sets, dates where the source has them, tests
    non-empty and decodable where ``has_tests``, function names for functional/assert tests."""
    import great_expectations.expectations as gxe

    df = _problem_checks(problems)
    checks = [c for c in df.columns if c.startswith("_check_")]
    exps = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(PROBLEM_COLUMNS) + checks, exact_match=True),
        gxe.ExpectColumnValuesToNotBeNull(column="problem_id"),
        gxe.ExpectColumnValuesToBeUnique(column="problem_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="statement"),
        gxe.ExpectColumnValuesToBeInSet(column="source", value_set=list(SOURCES)),
        gxe.ExpectColumnValuesToBeInSet(column="difficulty", value_set=list(DIFFICULTIES)),
        gxe.ExpectColumnValuesToBeInSet(column="test_type", value_set=list(TEST_TYPES)),
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
    ] + [gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[True]) for c in checks]
    return _finish(_run_suite("problems", df, "problem_id", exps), raise_on_failure)


def validate_candidates(candidates: pd.DataFrame, problem_ids: Any, *,
                        raise_on_failure: bool = True) -> SuiteResult:
    """The candidates suite: schema, unique candidate ids, each candidate's problem exists, exactly one official
    verdict per recorded candidate and one verdict per (problem, code), a passing verdict has error code 0, per-test results decode."""
    import great_expectations.expectations as gxe

    df = _candidate_checks(candidates)
    checks = [c for c in df.columns if c.startswith("_check_")]
    exps = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(CANDIDATE_COLUMNS) + checks, exact_match=True),
        gxe.ExpectColumnValuesToNotBeNull(column="candidate_id"),
        gxe.ExpectColumnValuesToBeUnique(column="candidate_id"),
        gxe.ExpectColumnValuesToBeInSet(column="problem_id", value_set=sorted(set(map(str, problem_ids))) or [""]),
        gxe.ExpectColumnValuesToNotBeNull(column="code"),
    ] + [gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[True]) for c in checks]
    return _finish(_run_suite("candidates", df, "candidate_id", exps), raise_on_failure)


def _finish(result: SuiteResult, raise_on_failure: bool) -> SuiteResult:
    if raise_on_failure and not result.success:
        raise ValidationFailed(result.suite, result.report())
    return result
