"""The local transformers policy: chat rendering, batched seeded sampling, greedy parity with HF generate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dreamprm.policy import ChatMessage, ChatPrompt, SamplingParams
from dreamprm.policy.transformers_local import TransformersPolicy

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOL_CACHE = Path(os.environ.get("DREAMPRM_TEST_MODEL_CACHE", REPO_ROOT / ".cache" / "dreamprm"))

PROMPTS = [
    [{"role": "user", "content": "Write add(a, b)."}],
    ChatPrompt(
        messages=(ChatMessage("system", "You write Python."), ChatMessage("user", "Reverse a string."))
    ),
    [ChatMessage("user", "Hello, write a longer program that sorts a list, please.")],
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def policy(cache: Path) -> TransformersPolicy:
    return TransformersPolicy("tinycoder", cache_dir=cache, batch_size=2)


def test_shapes_and_fields(policy: TransformersPolicy) -> None:
    out = policy.generate(PROMPTS, SamplingParams(n=3, temperature=0.8, top_p=0.9, max_tokens=6, seed=0))
    assert len(out) == 3 and all(len(o) == 3 for o in out)
    for group in out:
        for c in group:
            assert c.finish_reason in ("stop", "length")
            assert c.completion_tokens is not None and 1 <= c.completion_tokens <= 6
            assert c.prompt_tokens and c.prompt_tokens > 0
            assert (c.error is None) == bool(c.text.strip())


def test_seed_reproducible_and_independent_of_batch(policy: TransformersPolicy) -> None:
    params = SamplingParams(n=2, temperature=1.0, top_p=0.95, max_tokens=6, seed=7)
    a = policy.generate(PROMPTS, params)
    b = policy.generate(PROMPTS, params)
    assert [[c.text for c in g] for g in a] == [[c.text for c in g] for g in b]
    # prompt 2 alone, seeded seed + its former index, draws the same samples
    alone = policy.generate(
        PROMPTS[2:], SamplingParams(n=2, temperature=1.0, top_p=0.95, max_tokens=6, seed=9)
    )
    assert [c.text for c in alone[0]] == [c.text for c in a[2]]
    other = policy.generate(PROMPTS, SamplingParams(n=2, temperature=1.0, top_p=0.95, max_tokens=6, seed=8))
    assert [[c.text for c in g] for g in other] != [[c.text for c in g] for g in a]


def test_greedy_matches_hf_generate(policy: TransformersPolicy) -> None:
    import torch

    out = policy.generate(PROMPTS, SamplingParams(n=1, temperature=0.0, max_tokens=8))
    for prompt, group in zip(PROMPTS, out):
        ids = torch.tensor([policy._encode(prompt)])
        ref = policy._lm.generate(
            ids, do_sample=False, max_new_tokens=8, pad_token_id=policy._tok.pad_token_id
        )
        assert policy._tok.decode(ref[0, ids.shape[1] :], skip_special_tokens=True) == group[0].text


def test_prompt_too_long_is_a_per_sample_error(policy: TransformersPolicy) -> None:
    huge = [{"role": "user", "content": "word " * 3000}]
    out = policy.generate([huge, PROMPTS[0]], SamplingParams(n=2, temperature=0.5, max_tokens=4, seed=1))
    assert all(c.error and c.error.startswith("prompt_too_long") for c in out[0])
    assert len(out[1]) == 2


def test_get_policy_builds_transformers_backend(cache: Path, policy: TransformersPolicy) -> None:
    from dreamprm.policy import get_policy
    from dreamprm.settings import PolicySettings

    p = get_policy(PolicySettings(backend="transformers", model="tinycoder"), cache_dir=cache)
    assert isinstance(p, TransformersPolicy) and p.identity() == {
        "backend": "transformers",
        "model": "tinycoder",
    }


@pytest.mark.slow
def test_smollm2_writes_code_with_its_chat_template() -> None:
    p = TransformersPolicy("smollm2", cache_dir=SMOL_CACHE)
    assert "<|im_start|>assistant" in p.render(PROMPTS[0])
    prompt = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}]
    out = p.generate([prompt], SamplingParams(n=2, temperature=0.2, max_tokens=48, seed=0))
    assert len(out[0]) == 2 and all(c.ok for c in out[0])
    assert any("def " in c.text or "return" in c.text for c in out[0]), [c.text for c in out[0]]
