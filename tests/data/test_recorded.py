from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dreamprm.data.recorded import import_recorded, policy_and_scenario
from dreamprm.errors import InputDataError


def _rec(qid: str, date: str, graded: list[bool], platform: str = "atcoder") -> dict:
    n = len(graded)
    meta = [json.dumps({"execution time": 0.1}) if g else json.dumps({"error_code": -2, "error_message": "WA"})
            for g in graded]
    return {"question_title": f"t{qid}", "question_content": f"statement {qid}", "platform": platform,
            "question_id": qid, "contest_id": "c", "contest_date": date, "starter_code": "", "difficulty": "hard",
            "output_list": [f"```python\nprint({i})\n```" for i in range(n)],
            "code_list": [f"print({i})" for i in range(n)], "graded_list": graded,
            "pass@1": sum(graded) / n, "metadata": meta}


def make_recorded(root: Path) -> Path:
    """Two files: a fork with placeholder dates (and a per-test eval file) and one with the real dates."""
    (root / "fork" / "output_test6").mkdir(parents=True)
    (root / "real").mkdir(parents=True)
    fork = root / "fork" / "output_test6" / "M1__Scenario.codegeneration_2_0.2_eval_all.json"
    fork.write_text(json.dumps([_rec("q1", "2025-01-01T00:00:00", [True, False]),
                                _rec("q2", "2025-01-01T00:00:00", [False, False])], indent=4))
    evalf = fork.with_name("M1__Scenario.codegeneration_2_0.2_eval.json")
    evalf.write_text(json.dumps([{"pass@1": 0.25}, {"0": [[True, True], [True, -2]], "1": [[False], [-3]]},
                                 []], indent=4))
    real = root / "real" / "M2__Scenario.codegeneration_1_0.2_eval_all.json"
    real.write_text(json.dumps([_rec("q1", "2025-02-03T18:30:00", [True]),
                                _rec("q3", "2024-05-01T00:00:00", [False])], indent=4))
    return root


def test_policy_and_scenario():
    assert policy_and_scenario(Path("Qwen-3-8B__Scenario.codegeneration_1_0.2_eval_all.json")) == (
        "Qwen-3-8B", "codegeneration")
    assert policy_and_scenario(Path("GPT/Scenario.selfrepair_1_0.2_eval_all.json")) == ("GPT", "selfrepair")


def test_import_recorded_candidates_and_date_rule(tmp_path: Path):
    r = import_recorded([make_recorded(tmp_path / "rec")])
    p = r.problems.set_index("problem_id")
    assert sorted(p.index) == ["q1", "q2", "q3"]
    # the real date wins over the placeholder; a placeholder-only LiveCodeBench problem keeps it
    assert p.loc["q1", "contest_date"] == pd.Timestamp("2025-02-03T18:30:00", tz="UTC")
    assert p.loc["q2", "contest_date"] == pd.Timestamp("2025-01-01", tz="UTC")
    assert r.stats["placeholder_only_dates"] == 1
    assert not p["has_tests"].any()
    c = r.candidates
    assert len(c) == 6 and c["candidate_id"].is_unique
    assert list(c["official_passed"]) == [True, False, False, False, True, False]
    first = c.iloc[0]
    assert first["official_error_code"] == 0 and json.loads(first["official_test_results"]) == [True, True]
    assert c.iloc[1]["official_error_code"] == -2
    assert c.loc[c["policy"] == "M2", "official_test_results"].isna().all()  # no eval file
    assert set(c["source_file"]) == {"rec/fork/output_test6/M1__Scenario.codegeneration_2_0.2_eval_all.json",
                                     "rec/real/M2__Scenario.codegeneration_1_0.2_eval_all.json"}


def test_missing_folder_or_no_files(tmp_path: Path):
    with pytest.raises(InputDataError, match="does not exist"):
        import_recorded([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no \\*_eval_all.json"):
        import_recorded([tmp_path / "empty"])


def test_bad_eval_results_shape(tmp_path: Path):
    root = make_recorded(tmp_path / "rec")
    evalf = next(root.rglob("*_eval.json"))
    evalf.write_text(json.dumps([{}, {"0": [[True]]}, []]))  # one per-test list for two samples
    with pytest.raises(InputDataError, match="results"):
        import_recorded([root])


# ---- corrupted copies of the real files ------------------------------------------------------------------------

REAL = "lcb_v6_generations_xiangww0108/Qwen-3-8B__Scenario.codegeneration_1_0.2_eval_all.json"


@pytest.mark.shared_data
@pytest.mark.parametrize("case", ["truncated", "missing_question_id", "bad_graded_list"])
def test_corrupted_copies_name_file_line_field(shared_data: Path, tmp_path: Path, case: str):
    src = shared_data / REAL
    dst_dir = tmp_path / "copy"
    dst_dir.mkdir()
    dst = dst_dir / src.name
    text = src.read_text()
    if case == "truncated":
        lines = text.splitlines(keepends=True)
        dst.write_text("".join(lines[:5000]) + lines[5000][:20])
        field, expect_line = "<json>", 5001
    elif case == "missing_question_id":
        data = json.loads(text)
        del data[7]["question_id"]
        dst.write_text(json.dumps(data, indent=4))
        field, expect_line = "question_id", None
    else:
        data = json.loads(text)
        data[3]["graded_list"] = ["yes"]
        dst.write_text(json.dumps(data, indent=4))
        field, expect_line = "graded_list", None
    with pytest.raises(InputDataError) as e:
        import_recorded([dst_dir])
    msg = str(e.value)
    assert str(dst) in msg and f"field {field!r}" in msg and "line " in msg
    if expect_line:
        assert e.value.line == expect_line
    else:  # the line points into the right record
        lines = dst.read_text().splitlines()
        assert e.value.line is not None and lines[e.value.line - 1].strip() in ("{", f'"{field}": [')  or \
            field in lines[e.value.line - 1]


@pytest.mark.shared_data
def test_full_shared_import_counts_and_verdicts(shared_data: Path):
    r = import_recorded([shared_data])
    p, c = r.problems, r.candidates
    lcb = p[p["source"] == "livecodebench"]
    assert len(lcb) == 1055 and lcb["contest_date"].notna().all()
    assert lcb["contest_date"].max() == pd.Timestamp("2025-04-06", tz="UTC")
    assert (p["source"].value_counts().to_dict() == {"livecodebench": 1055, "humaneval": 161,
                                                       "codeforces_extra": 157})
    lcb_c = c[c["problem_id"].isin(lcb["problem_id"])]
    gen = lcb_c[lcb_c["scenario"] == "codegeneration"]
    assert (len(gen), int(gen["official_passed"].sum())) == (14370, 3729)
    assert (len(c), int(c["official_passed"].sum())) == (37725, 10820)
    assert c["candidate_id"].is_unique
    # every candidate's verdict equals its file's graded list, sample by sample
    for path in sorted(shared_data.rglob("*_eval_all.json")):
        rel = str(path.relative_to(shared_data.parent))
        got = c[c["source_file"] == rel]
        expected = [g for rec in json.loads(path.read_text()) for g in rec["graded_list"]]
        assert list(got["official_passed"]) == expected, rel
