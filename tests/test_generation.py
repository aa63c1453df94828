"""The generate stage with a scripted policy double (the SmolLM2 run is an integration test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from dreamprm.cache import ContentCache
from dreamprm.generation import GenerateConfig, count_functions, generate_candidates
from dreamprm.policy.base import Completion, PolicyBackend, SamplingParams

ANSWER = '''Here you go:
```python
def main():
    """Read, solve, print."""
    print(solve(int(input())))

def solve(n):
    """Square it."""
    return n * n

main()
```'''


class Scripted(PolicyBackend):
    name = "scripted"
    model = "scripted-v1"

    def __init__(self, fail: bool = False) -> None:
        self.prompts: list[Any] = []
        self.fail = fail

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Completion]]:
        self.prompts += list(prompts)
        return [[Completion("", error="timeout") if self.fail else Completion(ANSWER) for _ in range(params.n)]
                for _ in prompts]


PROBLEMS = pd.DataFrame([
    {"problem_id": f"p{i}", "statement": "Print n squared.", "starter_code": "", "test_type": "stdin",
     "func_name": "", "platform": "atcoder"} for i in range(3)
])


def test_candidates_have_code_steps_and_ids(tmp_path: Path) -> None:
    with ContentCache(tmp_path / "c.sqlite") as cache:
        out = generate_candidates(PROBLEMS, Scripted(), cache, GenerateConfig(n=2, batch_size=2))
    assert len(out) == 6
    assert out.groupby("problem_id")["sample_index"].apply(list).tolist() == [[0, 1]] * 3
    assert out["code"].str.startswith("def main").all()
    assert (out["extract_rule"] == "fenced_python").all()
    assert out["candidate_id"].nunique() == 6
    assert count_functions(out["code"].iloc[0]) == 2


def test_rerun_is_served_from_cache_and_failures_are_retried(tmp_path: Path) -> None:
    cfg = GenerateConfig(n=2)
    with ContentCache(tmp_path / "c.sqlite") as cache:
        generate_candidates(PROBLEMS, Scripted(), cache, cfg)
        again = Scripted()
        generate_candidates(PROBLEMS, again, cache, cfg)
        assert again.prompts == []
    with ContentCache(tmp_path / "d.sqlite") as cache:
        failing = Scripted(fail=True)
        out = generate_candidates(PROBLEMS, failing, cache, cfg)
        assert (out["code"] == "").all()
        retry = Scripted()
        generate_candidates(PROBLEMS, retry, cache, cfg)
        assert len(retry.prompts) == 3


def test_count_functions() -> None:
    assert count_functions("class Solution:\n    def a(self): pass\n    def b(self): pass\n") == 2
    assert count_functions("def broken(:\n") == 0
