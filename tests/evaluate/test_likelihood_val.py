"""benchmarks/likelihood_val.py: the coder and reviewer likelihoods on the tiny random model, and the rankings."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from likelihood_val import (
    CODE_OPEN,
    UNSCORED,
    LikelihoodScorer,
    chat_ids,
    check_settings,
    code_pieces,
    scores_from,
    user_message,
    within_problem_z,
)

PROBLEM = pd.Series({"statement": "Read n and print n squared.", "starter_code": "def solve(n):\n    pass"})
CODE = "def read():\n    return int(input())\n\ndef main():\n    n = read()\n    print(n * n)\n\nmain()\n"


@pytest.fixture(scope="module")
def scorer() -> LikelihoodScorer:
    return LikelihoodScorer("tinycoder", max_code_tokens=200)


def test_the_cached_problem_prefix_gives_the_log_probabilities_of_one_whole_pass(scorer: LikelihoodScorer) -> None:
    """Each program continues the problem's cached prefix; its step means equal those of one uncached forward pass
    over prefix + code, each step tokenized on its own."""
    cache, first = scorer.prefix(PROBLEM)
    means = scorer.step_means(cache, first, CODE)
    again = scorer.step_means(cache, first, CODE)  # the cache is copied, not consumed
    tok = scorer.tokenizer
    prefix = chat_ids(tok, user_message(PROBLEM)) + tok(CODE_OPEN, add_special_tokens=False)["input_ids"]
    pieces = code_pieces(tok, CODE)
    code = [t for p in pieces for t in p]
    with torch.no_grad():
        logits = scorer.model(torch.tensor([prefix + code])).logits[0, len(prefix) - 1:-1].float()
    lp = torch.log_softmax(logits, -1).gather(1, torch.tensor(code)[:, None])[:, 0]
    bounds = np.cumsum([0, *map(len, pieces)])
    expected = [float(lp[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:])]
    assert len(means) == len(pieces) >= 2 and means == again
    assert means == pytest.approx(expected, abs=1e-4)
    assert scorer.step_means(cache, first, "") is None
    assert scorer.step_means(cache, first, "x = 1\n" * 200) is None  # over the code budget: unscored, not cut


def test_the_reviewer_scores_the_same_statement_tokens_for_every_program(scorer: LikelihoodScorer) -> None:
    a = scorer.statement_given_code(PROBLEM, CODE, max_statement_tokens=5)
    b = scorer.statement_given_code(PROBLEM, "print(int(input()) ** 2)\n", max_statement_tokens=5)
    assert len(a) == len(b) == 1 and a != b and all(np.isfinite(a + b)) and max(a + b) < 0
    assert scorer.statement_given_code(PROBLEM, "", max_statement_tokens=5) is None


def test_scores_weigh_each_step_by_its_tokens_and_rank_unscored_programs_last() -> None:
    """Step means -1 over 3 tokens and -3 over 1 token: the mean over the program's 4 tokens is -1.5 (not the mean
    of the step means, -2), the total -6."""
    scores = scores_from(pd.Series([[-1.0, -3.0], [-2.0], None, []]), pd.Series([[3, 1], [5], [], []]))
    assert scores["mean"].tolist() == [-1.5, -2.0, UNSCORED, UNSCORED]
    assert scores["sum"].tolist() == [-6.0, -10.0, UNSCORED, UNSCORED]
    assert scores["min-step"].tolist() == [-3.0, -2.0, UNSCORED, UNSCORED]
    frame = pd.DataFrame({"problem_id": ["p", "p", "p", "q", "q"]})
    z = within_problem_z(frame, np.array([1.0, 3.0, UNSCORED, 10.0, 10.0]))
    assert z[:2].tolist() == pytest.approx([-2 ** -0.5, 2 ** -0.5]) and z[2] == UNSCORED
    assert z[3:].tolist() == [0.0, 0.0]  # a problem whose programs tie stays tied, not NaN


def test_scores_resume_only_under_the_settings_that_made_them(tmp_path: Path) -> None:
    made = {"model": "tinycoder", "max_code_tokens": 200}
    scores = tmp_path / "scores.parquet"
    check_settings(scores, made)  # first run: recorded beside the table
    assert (tmp_path / "scores.settings.json").is_file()
    scores.write_bytes(b"rows")
    check_settings(scores, made)  # the same settings: resumed
    with pytest.raises(SystemExit, match="made with .*tinycoder.*pass another --out"):
        check_settings(scores, {**made, "model": "qwen2.5-coder-1.5b"})
    (tmp_path / "reviewer-scores.parquet").write_bytes(b"rows")
    with pytest.raises(SystemExit, match="has no settings record"):
        check_settings(tmp_path / "reviewer-scores.parquet", made)
