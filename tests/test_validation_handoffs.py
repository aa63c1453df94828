"""Great Expectations suites at the later hand-offs: generated candidates, executions, step labels, scores. Each
passes on a good table and names the offending row ids on a bad one."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dreamprm.errors import InputDataError, ValidationFailed
from dreamprm.validation import (
    read_validated,
    validate_executions,
    validate_generated,
    validate_scores,
    validate_step_labels,
)


def _executions() -> pd.DataFrame:
    return pd.DataFrame([
        {"candidate_id": "a", "problem_id": "p", "exec_key": "k", "verdict": "passed", "passed": True,
         "num_tests": 2, "num_passed": 2, "per_test": json.dumps([{}, {}]), "time_s": 0.1, "backend": "docker",
         "public_tests": 1},
        {"candidate_id": "b", "problem_id": "p", "exec_key": "k", "verdict": "wrong_answer", "passed": False,
         "num_tests": 2, "num_passed": 0, "per_test": json.dumps([{}]), "time_s": 0.1, "backend": "docker",
         "public_tests": 1},
    ])


def test_executions_suite() -> None:
    assert validate_executions(_executions(), ["a", "b"]).success
    bad = _executions()
    bad.loc[1, "passed"] = True  # says passed, verdict wrong_answer
    bad.loc[0, "num_passed"] = 5
    with pytest.raises(ValidationFailed) as err:
        validate_executions(bad)
    text = str(err.value)
    assert "_check_passed_matches_verdict" in text and "_check_num_passed_le_tests" in text
    assert "ids: b" in text and "ids: a" in text


def test_an_executions_table_without_its_columns_is_named_not_a_key_error() -> None:
    """Another stage's table given as executions (here a candidates table) names the columns it lacks."""
    with pytest.raises(InputDataError, match=r"lacks columns \['exec_key', 'verdict', 'passed'") as err:
        validate_executions(_executions()[["candidate_id", "problem_id"]].assign(code="print(1)"))
    assert err.value.field == "exec_key"


def _labels() -> pd.DataFrame:
    return pd.DataFrame([{"candidate_id": "c1", "problem_id": "p", "prompt": "s", "statement": "s",
                          "starter_code": "", "completions": ["a\n", "b\n"], "labels": [True, False],
                          "soft_labels": [0.5, 0.0], "clean": [False, True], "rollout_counts": [2, 0],
                          "rollout_passes": [1, 0], "split": "train"}])


def test_step_labels_suite() -> None:
    assert validate_step_labels(_labels()).success
    bad = pd.concat([_labels(), _labels().assign(candidate_id="c2", soft_labels=[[0.5]], split="eval")])
    with pytest.raises(ValidationFailed) as err:
        validate_step_labels(bad.reset_index(drop=True))
    text = str(err.value)
    assert "_check_one_label_per_step" in text and "ids: c2" in text and "split" in text


def test_scores_suite() -> None:
    frame = pd.DataFrame({"candidate_id": ["a", "b", "c"], "scores:prm": [[0.2, 0.9], None, [1.0]]})
    assert validate_scores(frame).success
    frame.loc[2, "scores:prm"] = [1.5]
    with pytest.raises(ValidationFailed, match=r"scores_prm_in_0_1.*ids: c"):
        validate_scores(frame)


def test_generated_suite() -> None:
    good = pd.DataFrame([{"candidate_id": "g1", "problem_id": "p", "code": "x = 1\n", "step_offsets": "[0, 6]"}])
    assert validate_generated(good, ["p"]).success
    bad = good.assign(step_offsets="[0, 3]")
    with pytest.raises(ValidationFailed, match=r"_check_step_offsets_cover_code.*ids: g1"):
        validate_generated(bad, ["p"])


def test_a_table_read_for_a_stage_names_its_file_when_it_fails(tmp_path) -> None:
    good, bad, old = tmp_path / "ok.parquet", tmp_path / "bad.parquet", tmp_path / "old.parquet"
    _executions().to_parquet(good)
    assert read_validated(good, validate_executions)["candidate_id"].tolist() == ["a", "b"]
    _executions().assign(verdict="maybe").to_parquet(bad)
    with pytest.raises(ValidationFailed) as err:
        read_validated(bad, validate_executions)
    assert err.value.path == str(bad) and f"failed for {bad}" in str(err.value) and "ids: a, b" in str(err.value)
    _labels().drop(columns="split").to_parquet(old)  # a column check that fails before GX runs
    with pytest.raises(InputDataError) as missing:
        read_validated(old, validate_step_labels)
    assert missing.value.path == str(old) and missing.value.field == "split" and str(old) in str(missing.value)


@pytest.mark.parametrize("stage", ["train", "correct", "fuse"])
def test_a_stage_given_labels_without_their_split_names_the_file_before_loading_a_model(tmp_path, stage) -> None:
    """Labels written before the split manifest (no ``split`` column) stop train, correct and fuse at the read, with
    the file and the column, before any model is loaded or trained (the folders named here do not exist)."""
    from dreamprm.stages.correct import run_correct
    from dreamprm.stages.fuse import run_fuse
    from dreamprm.stages.train import run_train

    old, nowhere = tmp_path / "old.parquet", str(tmp_path / "absent")
    _labels().drop(columns="split").to_parquet(old)
    run = {"train": lambda: run_train(str(old), nowhere, {}, {}, 0.2, resume=False),
           "correct": lambda: run_correct(str(old), nowhere, nowhere, {}, register=False),
           "fuse": lambda: run_fuse(str(old), nowhere, nowhere, nowhere, nowhere, "prm-none", "mean", 1.0, "meta",
                                    nowhere)}[stage]
    with pytest.raises(InputDataError) as err:
        run()
    assert err.value.path == str(old) and err.value.field == "split"
