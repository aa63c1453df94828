from __future__ import annotations

import json

import pandas as pd
import pytest

from dreamprm.data.livecodebench import load_problems, local_release_files
from dreamprm.data.recorded import candidates_frame
from dreamprm.data.split import assign_split
from dreamprm.errors import ValidationFailed
from dreamprm.validation import validate_candidates, validate_problems
from tests.data.conftest import write_release_folder


@pytest.fixture
def problems(tmp_path) -> pd.DataFrame:
    d = write_release_folder(tmp_path / "lcb")
    return assign_split(load_problems(local_release_files(d, "release_v6")), "2024-08-01")


def _cand(cid: str, pid: str, passed: bool | None, code: str = "print(1)", err: int | None = None) -> dict:
    return {"candidate_id": cid, "problem_id": pid, "policy": "m", "scenario": "codegeneration",
            "sample_index": 0, "source_file": "f.json", "raw_output": code, "code": code,
            "official_passed": passed, "official_error_code": 0 if passed else err,
            "official_metadata": "{}", "official_test_results": None}


def test_good_tables_pass(problems):
    assert validate_problems(problems).success
    c = candidates_frame([_cand("c1", "abc100_a", True), _cand("c2", "abc100_a", False, "x", -2)])
    assert validate_candidates(c, problems["problem_id"]).success


def test_duplicate_ids_name_the_rows(problems):
    bad = pd.concat([problems, problems.iloc[[1]]], ignore_index=True)
    bad.loc[0, "difficulty"] = "impossible"
    with pytest.raises(ValidationFailed) as e:
        validate_problems(bad)
    report = e.value.report
    assert "expect_column_values_to_be_unique(problem_id)" in report and "3001" in report
    assert "expect_column_values_to_be_in_set(difficulty)" in report and "abc100_a" in report


def test_undecodable_or_empty_tests_and_missing_date(problems):
    bad = problems.copy()
    bad.loc[2, "private_tests"] = "not json"
    bad.loc[3, "public_tests"] = "[]"
    bad.loc[3, "private_tests"] = "[]"  # has_tests True but nothing there
    bad.loc[4, "contest_date"] = pd.NaT
    r = validate_problems(bad, raise_on_failure=False)
    assert not r.success
    by = {f["column"]: f["ids"] for f in r.failures}
    assert set(by["_check_tests_decode"]) == {bad.loc[2, "problem_id"], bad.loc[3, "problem_id"]}
    assert by["_check_date_where_dated"] == [bad.loc[4, "problem_id"]]


def test_candidate_suite_failures(problems):
    c = candidates_frame([
        _cand("c1", "abc100_a", True), _cand("c1", "abc100_a", False, "y", -2),  # duplicate id
        _cand("c3", "no_such_problem", True),                                    # unknown problem
        _cand("c4", "abc300_b", None),                                           # no verdict
        _cand("c5", "abc350_c", True, "same"), _cand("c6", "abc350_c", False, "same", -3),  # 2 verdicts, 1 code
    ])
    with pytest.raises(ValidationFailed) as e:
        validate_candidates(c, problems["problem_id"])
    rep = e.value.report
    for needle in ("be_unique(candidate_id)", "c3", "_check_one_verdict): 1 rows; ids: c4",
                   "_check_one_verdict_per_code", "c5", "c6"):
        assert needle in rep, (needle, rep)
    json.dumps(validate_candidates(c, problems["problem_id"], raise_on_failure=False).to_dict())
