"""Rollout forms: a prefilled assistant turn where the backend continues it exactly (llama.cpp, exercised for real on
the tiny GGUF), the prefix as starter code elsewhere; refusals and failed samples recorded with their reason."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dreamprm.cache import ContentCache
from dreamprm.labeling import MCLabelConfig, label_candidates
from dreamprm.labeling.rollouts import FENCE_OPEN, rollout_params, rollout_program, rollout_prompt
from dreamprm.policy.base import Completion, PolicyBackend, SamplingParams

PROBLEM = {"problem_id": "p1", "statement": "Return a + b.", "starter_code": "def add(a, b):\n", "test_type": "assert",
           "func_name": "add", "public_tests": "[]", "private_tests": "[]"}
PREFIX = "def add(a, b):\n    total = a\n"


class PrefillDouble(PolicyBackend):
    """Answers like llama.cpp does for a prefilled turn: the prefilled text, then a scripted continuation per sample
    (a test double beside the real llama.cpp test below)."""

    name = "prefill-double"
    model = "double"
    supports_prefill = True

    def __init__(self, continuations: list[Completion | str]) -> None:
        self.continuations = continuations
        self.seen: list[Any] = []

    def generate(self, prompts: Sequence[Any], params: SamplingParams) -> list[list[Completion]]:
        self.seen.append((prompts, params))
        out = []
        for p in prompts:
            prefill = p.messages[-1].content
            out.append([c if isinstance(c, Completion) else Completion(prefill + c)
                        for c in self.continuations[: params.n]])
        return out


def test_prefill_prompt_and_program() -> None:
    policy = PrefillDouble([])
    prompt = rollout_prompt(policy, PROBLEM, PREFIX)
    assert prompt.messages[-1].role == "assistant" and prompt.messages[-1].content == FENCE_OPEN + PREFIX
    assert prompt.kind.startswith("prefill_rollout_") and prompt.code_prefix == PREFIX
    assert rollout_params(policy, SamplingParams()).stop == ("```",)
    # Without prefill support (or with it turned off) the prompt is the starter-code form, unchanged.
    plain = rollout_prompt(policy, PROBLEM, PREFIX, prefill=False)
    assert plain.messages[-1].role == "user" and plain.cache_key() != prompt.cache_key()
    program, rule = rollout_program(PREFIX, Completion(FENCE_OPEN + PREFIX + "    return total + b\n```\nDone."), True)
    assert (program, rule) == (PREFIX + "    return total + b\n", "prefilled")
    assert rollout_program(PREFIX, Completion(FENCE_OPEN + PREFIX), True) == (PREFIX, "refused")
    assert rollout_program(PREFIX, Completion("", error="timeout: ReadTimeout"), True) == (
        PREFIX, "failed: timeout: ReadTimeout")


def test_failed_samples_are_left_out_of_the_label(tmp_path: Path) -> None:
    code = "def helper(x):\n    return x\n\n\ndef add(a, b):\n    return helper(a) + b\n"
    problems = pd.DataFrame([PROBLEM])
    candidates = pd.DataFrame([{"candidate_id": "c1", "problem_id": "p1", "code": code}])
    policy = PrefillDouble(["\ndef add(a, b):\n    return helper(a) + b\n```", "\ndef add(a, b):\n    return 0\n```",
                            Completion("", error="timeout: ReadTimeout"), "```"])

    def judge(jobs):
        return ["return helper(a) + b" in program for _, program in jobs]

    with ContentCache(tmp_path / "c.sqlite") as cache:
        out = label_candidates(problems, candidates, {"c1": True}, policy, judge, cache,
                               MCLabelConfig(rollouts=4, max_steps=2))
        row = out.iloc[0]
        assert len(row["completions"]) == 2
        # 3 counted rollouts (the timeout left out): one passes; the refusal runs as the prefix alone and fails.
        assert row["rollout_counts"][0] == 3 and row["rollout_passes"][0] == 1
        assert abs(row["soft_labels"][0] - 1 / 3) < 1e-9
        prompts, params = policy.seen[0]
        assert prompts[0].messages[-1].role == "assistant" and params.stop == ("```",)


def test_prefill_through_a_real_llamacpp_server() -> None:
    pytest.importorskip("xllamacpp")
    from dreamprm.policy.llamacpp import LlamaCppPolicy

    with LlamaCppPolicy("tinycoder", parallel=2, threads=1, ctx_per_slot=1024) as policy:
        prompt = rollout_prompt(policy, PROBLEM, PREFIX)
        comps = policy.generate([prompt], rollout_params(policy, SamplingParams(n=2, max_tokens=12, seed=3)))[0]
    for c in comps:
        assert c.ok and c.text.startswith(FENCE_OPEN + PREFIX)  # the server continued the prefilled turn
        program, rule = rollout_program(PREFIX, c, True)
        assert program.startswith(PREFIX) and rule in ("prefilled", "refused")
