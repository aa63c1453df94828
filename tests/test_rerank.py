"""Reranking recorded generations: the pick follows the scorer; pass@1 is computed over every problem."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dreamprm.errors import InputDataError
from dreamprm.rerank import load_generations, rerank


def write_generations(path: Path) -> Path:
    def rec(qid: str, graded: list[bool]) -> dict:
        return {"question_title": qid, "question_content": f"statement {qid}", "platform": "atcoder",
                "question_id": qid, "contest_id": "c", "contest_date": "2025-02-01T00:00:00", "starter_code": "",
                "difficulty": "easy", "output_list": [f"```python\nprint({i})\n```" for i in range(len(graded))],
                "code_list": [f"print({i})" for i in range(len(graded))], "graded_list": graded,
                "pass@1": sum(graded) / len(graded), "metadata": ["{}"] * len(graded)}

    path.write_text(json.dumps([rec("q1", [False, True, False]), rec("q2", [True, False, False])]))
    return path


def score_by_printed_value(frame: pd.DataFrame) -> pd.DataFrame:
    """A scorer double: the program printing 1 gets the highest score."""
    return pd.DataFrame({"step_scores": [[0.9] if code == "print(1)" else [0.2] for code in frame["code"]]})


def test_rerank_picks_the_best_scored_candidate(tmp_path: Path) -> None:
    problems, candidates = load_generations([write_generations(tmp_path / "M__Scenario.codegeneration_3_0.2_eval_all.json")])
    picks, summary = rerank(problems, candidates, score_by_printed_value)
    assert picks.set_index("problem_id")["sample_index"].to_dict() == {"q1": 1, "q2": 1}
    assert summary["pass_at_1_reranked"] == 0.5  # q1 right (sample 1 passes), q2 wrong (only sample 0 passes)
    assert summary["pass_at_1_first_sample"] == 0.5
    assert summary["pass_at_1_random"] == pytest.approx(1 / 3)


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="no such file"):
        load_generations([tmp_path / "absent.json"])
