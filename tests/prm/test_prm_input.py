"""One PRM input for training and scoring: the same (problem, code) gives the same token ids whether it comes from a
step-label row (train, correct) or from the evaluation frame (evaluate, rerank, pyfunc), the policy's prompt never
enters it, and a long statement is truncated from its end, the same way on every path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from dreamprm.evaluate.scoring import evaluation_frame
from dreamprm.labeling.outcome import outcome_step_labels
from dreamprm.prm import PRMConfig, PRMInput, ProcessRewardModel
from dreamprm.prm.template import CandidateTooLong, StepEncoder, starter_for_prm
from dreamprm.prompts import build_prompt

CODE = (
    "def helper(x):\n    \"\"\"Square it.\"\"\"\n    return x * x\n\n"
    "class Solution:\n    def solve(self, n: int) -> int:\n        \"\"\"Sum of squares.\"\"\"\n"
    "        return sum(helper(i) for i in range(n + 1))\n"
)
STARTER = "class Solution:\n    def solve(self, n: int) -> int:\n        "


def _problem(statement: str) -> dict:
    return {"problem_id": "p1", "statement": statement, "starter_code": STARTER, "test_type": "functional",
            "func_name": "solve", "platform": "leetcode", "difficulty": "easy", "public_tests": "[]",
            "private_tests": "[]", "title": "Squares", "source": "livecodebench", "contest_date": None}


@pytest.fixture(scope="module")
def prm(tmp_path_factory: pytest.TempPathFactory) -> ProcessRewardModel:
    cfg = PRMConfig(backbone="tinycoder", num_layers=None, max_length=160)
    model = ProcessRewardModel.from_config(cfg, cache_dir=tmp_path_factory.mktemp("cache"), seed=0)
    with torch.no_grad():
        model.head.weight.normal_(0, 1.0)
    return model


def _both_paths(problem: dict) -> tuple[PRMInput, PRMInput]:
    problems = pd.DataFrame([problem])
    candidates = pd.DataFrame([{"candidate_id": "c1", "problem_id": "p1", "sample_index": 0, "code": CODE,
                                "official_passed": True, "policy": "m"}])
    row = outcome_step_labels(problems, candidates, {"c1": True}).iloc[0].to_dict()
    frame = evaluation_frame(problems, candidates, None).iloc[0]
    from_training = PRMInput.from_label_row(row)
    from_scoring = PRMInput.build(frame["statement"], frame["starter_code"], code=frame["code"])
    return from_training, from_scoring


def test_training_row_and_evaluation_frame_give_identical_ids(prm: ProcessRewardModel) -> None:
    train_in, eval_in = _both_paths(_problem("Return the sum of i*i for i in 0..n."))
    assert train_in == eval_in
    assert len(train_in.steps) >= 2
    a, b = prm.encoder.encode(train_in), prm.encoder.encode(eval_in)
    assert a.input_ids == b.input_ids and a.marker_positions == b.marker_positions
    # The starter code is in the input; the policy's Chain-of-Function prompt is not.
    text = prm.tokenizer.decode(a.input_ids)
    assert "Starter code" in text
    cof = build_prompt(_problem("x"), style="cof").as_messages()[-1]["content"]
    assert cof.splitlines()[0] not in text


def test_long_statement_truncated_from_its_end_identically(prm: ProcessRewardModel) -> None:
    statement = "Return the sum of squares. " + " ".join(f"note{i}" for i in range(400))
    train_in, eval_in = _both_paths(_problem(statement))
    a, b = prm.encoder.encode(train_in), prm.encoder.encode(eval_in)
    assert a.input_ids == b.input_ids
    assert a.problem_tokens_dropped > 0 and len(a) <= prm.encoder.max_length
    text = prm.tokenizer.decode(a.input_ids)
    assert "Return the sum of squares." in text  # the opening survives, the tail is dropped
    assert "note399" not in text
    assert "Starter code" in text
    # The code got its full budget: the sequence ends with every step's own ids, each followed by its marker.
    code_ids: list[int] = []
    for step in train_in.steps:
        code_ids += prm.tokenizer(step, add_special_tokens=False)["input_ids"] + [prm.encoder.marker_id]
    assert a.input_ids[-len(code_ids):] == code_ids


def test_single_pass_equals_per_prefix_under_truncation(prm: ProcessRewardModel) -> None:
    statement = "Return the sum of squares. " + " ".join(f"note{i}" for i in range(400))
    inp, _ = _both_paths(_problem(statement))
    assert prm.encoder.encode(inp).problem_tokens_dropped > 0
    single = prm.score_steps(inp)
    separate = prm.score_prefixes_separately(inp)
    assert single == pytest.approx(separate, abs=1e-4)


def test_code_longer_than_context_is_one_rule(prm: ProcessRewardModel) -> None:
    huge = PRMInput.build("s", "", code="x = 1\n" * 400)
    with pytest.raises(CandidateTooLong):
        prm.encoder.encode(huge)
    assert prm.score_batch([huge, PRMInput.build("s", "", code="x = 1\n")], too_long="none")[0] is None


def test_starter_code_already_in_statement_is_not_repeated() -> None:
    stub = "def f(x):\n    \"\"\"Double x.\"\"\"\n"
    assert starter_for_prm(stub, stub) == ""  # HumanEval: the prompt is statement and starter at once
    assert starter_for_prm("Double x.", stub) == stub
    assert starter_for_prm("Double x.", "  \n") == ""


def test_old_label_rows_without_statement_are_a_clear_error() -> None:
    from dreamprm.errors import InputDataError

    with pytest.raises(InputDataError, match="re-run `dreamprm label`"):
        PRMInput.from_label_row({"prompt": "You are ...", "completions": ["x = 1\n"]}, source="old.parquet")


def test_encoder_prefix_shares_truncation(tmp_path: Path, prm: ProcessRewardModel) -> None:
    enc = StepEncoder(prm.tokenizer, max_length=120)
    inp = PRMInput.build("word " * 300, "", steps=["a = 1\n", "b = 2\n", "c = 3\n"])
    full = enc.encode(inp)
    for k in (1, 2, 3):
        pre = enc.encode_prefix(inp, None, k)
        assert pre.input_ids == full.input_ids[: full.marker_positions[k - 1] + 1]
