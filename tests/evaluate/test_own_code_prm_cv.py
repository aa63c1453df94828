"""benchmarks/own_code_prm_cv.py: the PRM trained as the train stage trains it, then scoring held-out problems."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from own_code_prm_cv import train_and_score  # noqa: E402

GOOD, BAD = "n = int(input())\nprint(2 * n)\n", "n = int(input())\nprint(n)\n"


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"p{i}" for i in range(8)]
    problems = pd.DataFrame([{"problem_id": p, "source": "codeforces", "platform": "codeforces", "title": p,
                              "statement": "Read n, print 2n.", "starter_code": "", "test_type": "stdin",
                              "func_name": "", "private_tests": "[]", "public_tests": "[]",
                              "difficulty": "easy"} for p in ids])
    rows = [{"candidate_id": f"{p}-{m}-{s}", "problem_id": p, "policy": m, "sample_index": s,
             "code": GOOD if m == "good" else BAD, "passed": m == "good"}
            for p in ids for m in ("good", "bad") for s in range(3)]
    return problems, pd.DataFrame(rows)


def test_the_trained_prm_ranks_the_held_out_problems_passing_program_first(
        project_root: Path, monkeypatch: pytest.MonkeyPatch, fresh_accelerate_state: None) -> None:
    from dreamprm.settings import get_settings

    monkeypatch.setenv("DREAMPRM_PRM__BACKBONE", "tinycoder")
    monkeypatch.setenv("DREAMPRM_PRM__NUM_LAYERS", "0")
    monkeypatch.setenv("DREAMPRM_PRM__FINETUNE", "head")
    get_settings.cache_clear()
    problems, frame = _tables()
    held_out = frame["problem_id"].isin(["p6", "p7"]) & (frame["sample_index"] == 0)
    train = frame[~frame["problem_id"].isin(["p6", "p7"])]
    settings = {"epochs": 8, "lr": 1e-2, "batch_size": 16, "grad_accum": 1, "objective": "pairwise",
                "rank_weight": 0.5, "save_every": 10**9}
    for flipped in (False, True):  # trained on the opposite verdicts, it must rank the other way: it learned them
        labels = train.assign(passed=train["passed"] ^ flipped)
        scores = train_and_score(labels, frame[held_out], problems, settings)
        test = frame[held_out].assign(score=scores)
        assert len(scores) == 4 and np.isfinite(scores).all()
        for _, g in test.groupby("problem_id"):
            good, bad = g.loc[g["passed"], "score"].iloc[0], g.loc[~g["passed"], "score"].iloc[0]
            assert (good < bad) if flipped else (good > bad)
