"""Great Expectations suites that guard every hand-off table DESIGN.md names: problems and candidates (fetch, and
generate's candidates), executions (execute, and read by label, fuse and evaluate), step labels (label, and read by
train, correct and fuse) and scores (evaluate's candidate frame with every PRM's step scores, before selection).

Each suite runs in an ephemeral (in-memory) GX context on a pandas frame. Row-level checks that need Python (tests
decode, dates present where the source has them, ...) are computed into ``_check_*`` columns first, and GX expects
them to be True, so every failure is reported by GX with the ids of the offending rows. A failing suite raises
:class:`~dreamprm.errors.ValidationFailed` whose report names each failing expectation and up to 20 row ids; label,
fuse, evaluate (its probe executions too), train, correct and execute's ``--survivors-of`` read their executions and
step labels through :func:`read_validated`, so the error also names the file.
Great Expectations is imported lazily (it costs about 3 s) and its progress bars are off.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dreamprm.data.schema import (
    CANDIDATE_COLUMNS,
    DIFFICULTIES,
    EXECUTION_COLUMNS,
    PROBLEM_COLUMNS,
    SOURCES,
    TEST_TYPES,
    VERDICTS,
    is_bool,
    is_null,
)
from dreamprm.errors import InputDataError, ValidationFailed

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
    """Run ``expectations`` on ``df`` in an ephemeral GX context, plus one expectation per ``_check_*`` column (a
    per-row rule GX has no built-in for, computed by the suite's ``_*_checks``): every row True."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for noisy in ("great_expectations", "great_expectations.core", "great_expectations.data_context",
                  "great_expectations.data_context.types.base"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_def = (ctx.data_sources.add_pandas(f"{name}_source").add_dataframe_asset(f"{name}_asset")
                 .add_batch_definition_whole_dataframe(f"{name}_batch"))
    row_checks = [gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[True])
                  for c in df.columns if str(c).startswith("_check_")]
    suite = ctx.suites.add(gx.ExpectationSuite(name=name, expectations=[*expectations, *row_checks]))
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
    ]
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
    ]
    return _finish(_run_suite("candidates", df, "candidate_id", exps), raise_on_failure)


def _pool_checks(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    _, whole = _integer_values(out["sample_index"])
    out["_check_sample_index_is_integer"] = whole & (pd.to_numeric(out["sample_index"], errors="coerce") >= 0)
    out["_check_code_is_text"] = out["code"].map(lambda v: is_null(v) or isinstance(v, str))
    if "official_passed" in out:  # bool or null: bool("False") is True, so a string would count as correct
        out["_check_official_passed_is_bool"] = out["official_passed"].map(lambda v: is_null(v) or is_bool(v))
    return out


POOL_COLUMNS = ("candidate_id", "problem_id", "sample_index", "code")


def validate_candidate_pool(candidates: pd.DataFrame, *, raise_on_failure: bool = True) -> SuiteResult:
    """The candidates that evaluate chooses among (recorded or generated): the columns it reads, non-null unique
    ``candidate_id``s, a ``problem_id`` on every row, a whole ``sample_index`` >= 0 (the order of the first-N subsets),
    code as text and ``official_passed``, where the table has it, a bool or null. The row checks fetch's and
    generate's suites also make are repeated because evaluate is often pointed at a table of another run."""
    import great_expectations.expectations as gxe

    _require_columns(candidates, POOL_COLUMNS, "candidates table",
                     f"a `dreamprm fetch` or `dreamprm generate` output with columns {list(POOL_COLUMNS)}")
    df = _pool_checks(candidates)
    exps = [
        gxe.ExpectColumnValuesToNotBeNull(column="candidate_id"),
        gxe.ExpectColumnValuesToBeUnique(column="candidate_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="problem_id"),
    ]
    return _finish(_run_suite("candidate_pool", df, "candidate_id", exps), raise_on_failure)


def _generated_checks(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()

    def offsets_ok(row: Any) -> bool:
        try:
            offs = json.loads(row.step_offsets)
        except (TypeError, ValueError):
            return False
        code = row.code if isinstance(row.code, str) else ""
        return (isinstance(offs, list) and len(offs) >= 2 and offs[0] == 0 and offs[-1] == len(code)
                and all(a <= b for a, b in zip(offs, offs[1:])))

    out["_check_step_offsets_cover_code"] = [offsets_ok(r) for r in out.itertuples(index=False)]
    return out


def validate_generated(candidates: pd.DataFrame, problem_ids: Any, *, raise_on_failure: bool = True) -> SuiteResult:
    """Generated candidates (generate's output): unique ids, known problems, code present, step offsets that start
    at 0, grow and end at the code's length."""
    import great_expectations.expectations as gxe

    df = _generated_checks(candidates)
    exps = [
        gxe.ExpectColumnValuesToNotBeNull(column="candidate_id"),
        gxe.ExpectColumnValuesToBeUnique(column="candidate_id"),
        gxe.ExpectColumnValuesToBeInSet(column="problem_id", value_set=sorted(set(map(str, problem_ids))) or [""]),
        gxe.ExpectColumnValuesToNotBeNull(column="code"),
    ]
    return _finish(_run_suite("generated", df, "candidate_id", exps), raise_on_failure)


def _require_columns(df: pd.DataFrame, columns: Any, what: str, expected: str) -> None:
    """The columns a suite's row checks read, before they run (raised whatever ``raise_on_failure`` says): a table of
    another stage, or of an older release, is named with what it lacks instead of failing on a KeyError."""
    missing = [c for c in columns if c not in df]
    if missing:
        raise InputDataError(f"{what} lacks columns {missing}", field=missing[0], expected=expected)


def _integer_values(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A column as numbers (NaN where a value is not one) and whether each value is a whole number. A value stored
    as text ("3") is not a number here, whatever the column's dtype: a table whose counts were written as strings
    fails a named check instead of a comparison raising a TypeError."""
    def whole(value: Any) -> bool:
        return (isinstance(value, (int, float, np.integer, np.floating)) and not is_bool(value)
                and math.isfinite(value) and float(value).is_integer())

    ok = column.map(whole).astype(bool)
    numbers = pd.to_numeric(column.where(ok), errors="coerce")
    return numbers, ok


def _execution_checks(df: pd.DataFrame, candidate_problems: pd.Series | None = None) -> pd.DataFrame:
    out = df.copy()
    is_flag = out["passed"].map(is_bool).astype(bool)  # a null or a text "False" fails here, not in astype
    out["_check_passed_matches_verdict"] = is_flag & (
        out["passed"].where(is_flag, False).astype(bool) == (out["verdict"] == "passed"))
    (num_tests, t_ok), (num_passed, p_ok), (public, u_ok) = (_integer_values(out[c]) for c in
                                                             ("num_tests", "num_passed", "public_tests"))
    out["_check_counts_are_integers"] = t_ok & p_ok & u_ok
    out["_check_num_passed_le_tests"] = (num_passed >= 0) & (num_passed <= num_tests)
    out["_check_public_le_tests"] = (public >= 0) & (public <= num_tests)
    if candidate_problems is not None:  # each row's problem is its candidate's (an unknown id fails its own check)
        known = out["candidate_id"].astype(str).map(candidate_problems)
        out["_check_problem_is_the_candidates"] = known.isna() | (known == out["problem_id"].astype(str))

    def per_test_ok(v: Any) -> bool:
        try:
            return isinstance(json.loads(v), list)
        except (TypeError, ValueError):
            return False

    out["_check_per_test_decodes"] = out["per_test"].map(per_test_ok)
    return out


def validate_executions(executions: pd.DataFrame, candidate_ids: Any | None = None, *,
                        candidates: pd.DataFrame | None = None, raise_on_failure: bool = True) -> SuiteResult:
    """Executions (execute's output; read by label, fuse and evaluate): the schema, one row per candidate, verdicts in
    their set and consistent with a boolean ``passed``, whole-number counts within the number of tests, per-test
    records that decode; with ``candidate_ids``, every row names a known candidate; with ``candidates`` (the table
    read beside it), a row naming one of its candidates names that candidate's problem too: a row of another
    candidates table that reuses an id would otherwise lend its verdict to the wrong program. Rows naming none of
    ``candidates`` pass here (one executions table may serve several candidate tables); they are not read (evaluate
    counts them in its report)."""
    import great_expectations.expectations as gxe

    _require_columns(executions, EXECUTION_COLUMNS, "executions table",
                     f"a `dreamprm execute` output, columns {list(EXECUTION_COLUMNS)}")
    candidate_problems = None
    if candidates is not None:
        candidate_problems = pd.Series(candidates["problem_id"].astype(str).to_numpy(),
                                       index=candidates["candidate_id"].astype(str).to_numpy())
    df = _execution_checks(executions, candidate_problems)
    checks = [c for c in df.columns if c.startswith("_check_")]
    exps = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(EXECUTION_COLUMNS) + checks, exact_match=True),
        gxe.ExpectColumnValuesToNotBeNull(column="candidate_id"),
        gxe.ExpectColumnValuesToBeUnique(column="candidate_id"),
        gxe.ExpectColumnValuesToBeInSet(column="verdict", value_set=list(VERDICTS)),
    ]
    if candidate_ids is not None:
        exps.append(gxe.ExpectColumnValuesToBeInSet(column="candidate_id",
                                                    value_set=sorted(set(map(str, candidate_ids))) or [""]))
    return _finish(_run_suite("executions", df, "candidate_id", exps), raise_on_failure)


def _label_checks(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    lens = [(len(list(c)), len(list(lab)), len(list(sl)), len(list(cl)))
            for c, lab, sl, cl in zip(out["completions"], out["labels"], out["soft_labels"], out["clean"])]
    out["_check_one_label_per_step"] = [n > 0 and len(set(t)) == 1 for t in lens for n in [t[0]]]
    out["_check_soft_labels_in_0_1"] = [all(0.0 <= float(y) <= 1.0 for y in sl) for sl in out["soft_labels"]]
    out["_check_last_step_clean"] = [bool(list(cl)[-1]) if len(cl) else False for cl in out["clean"]]
    # Every prefix step: 0 <= passes <= rollouts. The last step is the full program: no rollouts (count 0), and its
    # "passes" is the clean verdict, 0 or 1.
    out["_check_counts_bound_passes"] = [
        all(0 <= p <= c for p, c in zip(list(ps)[:-1], list(cs)[:-1])) and (len(ps) == 0 or int(list(ps)[-1]) in (0, 1))
        for ps, cs in zip(out["rollout_passes"], out["rollout_counts"])]
    return out


def validate_step_labels(labels: pd.DataFrame, *, raise_on_failure: bool = True) -> SuiteResult:
    """Step labels (label's output; read by train, correct and fuse): TRL's stepwise layout plus soft labels, one label
    and clean flag per step, soft labels in [0, 1], the full program's step clean, rollout passes within counts,
    the PRM input's statement present and every row on the train or meta side of the split manifest."""
    import great_expectations.expectations as gxe

    _require_columns(labels, ("candidate_id", "statement", "split", "completions", "labels", "soft_labels", "clean",
                              "rollout_counts", "rollout_passes"),
                     "step-label table", "the columns of a current label stage's output: re-run `dreamprm label`")
    df = _label_checks(labels)
    exps = [
        gxe.ExpectColumnValuesToNotBeNull(column="candidate_id"),
        gxe.ExpectColumnValuesToBeUnique(column="candidate_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="statement"),
        gxe.ExpectColumnValuesToBeInSet(column="split", value_set=["train", "meta"]),
    ]
    return _finish(_run_suite("step_labels", df, "candidate_id", exps), raise_on_failure)


def validate_scores(frame: pd.DataFrame, *, raise_on_failure: bool = True) -> SuiteResult:
    """Scores (evaluate's candidate frame): every ``scores:<prm>`` cell is None (the candidate did not fit the
    PRM's context; counted in the report) or a non-empty list of finite scores in [0, 1]."""
    import math

    import great_expectations.expectations as gxe

    df = frame.copy()
    cols = [c for c in df.columns if str(c).startswith("scores:")]
    checks = []
    for c in cols:
        name = f"_check_{c.replace(':', '_')}_in_0_1"
        df[name] = [v is None or (isinstance(v, float) and math.isnan(v))
                    or (len(v) > 0 and all(0.0 <= float(x) <= 1.0 for x in v)) for v in df[c]]
        checks.append(name)
    exps = [gxe.ExpectColumnValuesToNotBeNull(column="candidate_id"),
            gxe.ExpectColumnValuesToBeUnique(column="candidate_id")]
    df = df[["candidate_id", *checks]]
    return _finish(_run_suite("scores", df, "candidate_id", exps), raise_on_failure)


def _finish(result: SuiteResult, raise_on_failure: bool) -> SuiteResult:
    if raise_on_failure and not result.success:
        raise ValidationFailed(result.suite, result.report())
    return result


def read_validated(path: str | Path, validate: Callable[[pd.DataFrame], SuiteResult]) -> pd.DataFrame:
    """A hand-off table read from ``path`` and checked by its suite (``validate``, e.g. :func:`validate_executions`),
    so every stage that reads a table checks it the same way and a failure names the file as well as the rows."""
    from dreamprm.io import read_parquet

    table = read_parquet(path)
    try:
        validate(table)
    except ValidationFailed as err:
        raise ValidationFailed(err.suite, err.report, path=path) from err
    except InputDataError as err:
        if err.path is not None:
            raise
        raise InputDataError(err.message, path=path, line=err.line, field=err.field, expected=err.expected) from err
    return table
