"""Monte-Carlo labeling with test doubles for the policy and the judge (the real sandbox and SmolLM2 are exercised by
the integration test of the label flow). The doubles are deterministic, so the labels are known exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import pytest

from dreamprm.cache import ContentCache
from dreamprm.errors import InputDataError
from dreamprm.labeling import MCLabelConfig, label_candidates
from dreamprm.policy.base import Completion, PolicyBackend, SamplingParams

CODE = '''def main():
    """Read n and print its double via a helper."""
    n = int(input())
    print(double(n))

def double(x):
    """Multiply by two."""
    return 2 * x

main()
'''


class ScriptedPolicy(PolicyBackend):
    """Answers every rollout prompt with: half the samples the right program, half a wrong one."""

    name = "scripted"
    model = "scripted-v1"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Completion]]:
        self.calls += len(prompts)
        out = []
        for p in prompts:
            prefix = p.code_prefix or ""
            good = "```python\n" + CODE + "```"
            bad = "```python\n" + prefix + "\n# gave up\n```"
            out.append([Completion(good if i % 2 == 0 else bad) for i in range(params.n)])
        return out


class ScriptedJudge:
    """Passes a program iff it defines double() and calls main()."""

    def __init__(self) -> None:
        self.jobs = 0

    def __call__(self, jobs: Sequence[tuple[Mapping[str, Any], str]]) -> list[bool]:
        self.jobs += len(jobs)
        return ["return 2 * x" in code and code.rstrip().endswith("main()") for _, code in jobs]


@pytest.fixture
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    problems = pd.DataFrame([{
        "problem_id": "p1", "source": "livecodebench", "platform": "atcoder", "title": "Double",
        "statement": "Read n, print 2n.", "starter_code": "", "test_type": "stdin", "func_name": "",
        "public_tests": '[{"input": "2\\n", "output": "4\\n", "testtype": "stdin"}]', "private_tests": "[]",
    }])
    candidates = pd.DataFrame([{"candidate_id": "c1", "problem_id": "p1", "code": CODE}])
    return problems, candidates


def test_labels_are_pass_fractions_and_last_step_is_clean(tmp_path: Path, tables) -> None:
    problems, candidates = tables
    policy, judge = ScriptedPolicy(), ScriptedJudge()
    with ContentCache(tmp_path / "c.sqlite") as cache:
        out = label_candidates(problems, candidates, {"c1": False}, policy, judge, cache, MCLabelConfig(rollouts=4))
    row = out.iloc[0]
    assert "".join(row["completions"]) == CODE
    n = len(row["completions"])
    assert n == 4  # docstring end + end of main, docstring end of double, whole program
    assert list(row["soft_labels"][:-1]) == [0.5] * (n - 1)
    assert row["soft_labels"][-1] == 0.0  # the full program's own (clean) verdict, not a rollout estimate
    assert list(row["clean"]) == [False] * (n - 1) + [True]
    assert list(row["rollout_counts"]) == [4] * (n - 1) + [0]
    assert policy.calls == n - 1


def test_second_run_repeats_no_rollout_or_execution(tmp_path: Path, tables) -> None:
    problems, candidates = tables
    cfg = MCLabelConfig(rollouts=4)
    stats1: dict[str, int] = {}
    stats2: dict[str, int] = {}
    with ContentCache(tmp_path / "c.sqlite") as cache:
        first = label_candidates(problems, candidates, {"c1": True}, ScriptedPolicy(), ScriptedJudge(), cache, cfg,
                                 stats=stats1)
    policy, judge = ScriptedPolicy(), ScriptedJudge()
    with ContentCache(tmp_path / "c.sqlite") as cache:
        second = label_candidates(problems, candidates, {"c1": True}, policy, judge, cache, cfg, stats=stats2)
    assert policy.calls == 0 and judge.jobs == 0
    assert stats1["new_rollouts"] == 4 * (len(first.iloc[0]["completions"]) - 1) and stats2["new_rollouts"] == 0
    # the scripted policy answers in the starter-code form: the right program keeps the prefix or appends to it,
    # the wrong one ("prefix + # gave up") keeps it too; every sampled rollout is counted under one rule
    assert sum(v for k, v in stats1.items() if k.startswith("rollouts_")) == stats1["new_rollouts"]
    assert {k: v for k, v in stats2.items() if k.startswith("rollouts_")} == \
        {k: v for k, v in stats1.items() if k.startswith("rollouts_")}
    pd.testing.assert_frame_equal(first, second)


def test_changed_sampling_parameters_miss_the_cache(tmp_path: Path, tables) -> None:
    problems, candidates = tables
    with ContentCache(tmp_path / "c.sqlite") as cache:
        label_candidates(problems, candidates, {"c1": True}, ScriptedPolicy(), ScriptedJudge(), cache,
                         MCLabelConfig(rollouts=4))
        policy = ScriptedPolicy()
        label_candidates(problems, candidates, {"c1": True}, policy, ScriptedJudge(), cache,
                         MCLabelConfig(rollouts=4, temperature=0.7))
    assert policy.calls > 0


def test_candidate_without_verdict_is_a_clear_error(tmp_path: Path, tables) -> None:
    problems, candidates = tables
    with ContentCache(tmp_path / "c.sqlite") as cache, pytest.raises(InputDataError, match="dreamprm execute"):
        label_candidates(problems, candidates, {}, ScriptedPolicy(), ScriptedJudge(), cache)
