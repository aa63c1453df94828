"""How a Monte-Carlo rollout continues a step prefix: the prompt it is sampled from and the program it stands for.

Two forms, chosen per backend:

- **prefilled assistant turn** (backends with ``supports_prefill``, i.e. llama.cpp): the rollout prompt (the prefix
  shown as starter code) plus a final assistant message ``"```python\\n" + prefix``. The server continues that message
  token by token, so every rollout keeps the prefix byte for byte; the answer is the message followed by the
  continuation, cut at the closing fence. Why preferred: Monte-Carlo labels estimate "how often does the policy
  succeed *from this prefix*"; with the starter-code form a small model often rewrites the prefix (``rewritten``),
  which then labels a different program. A stop string at the closing fence also ends each rollout as soon as the
  code does (no trailing prose to decode).
- **prefix as starter code** (every other backend: transformers, and the openai backend, since OpenAI's API has no
  prefill and a vLLM behind it needs an extra request field): the model is asked to write the whole program starting
  with the prefix; :func:`dreamprm.extract.join_rollout` keeps the prefix where the answer does (``kept``/``appended``)
  and marks the rest ``rewritten``.

Rules recorded with each program: ``prefilled``, ``kept``, ``appended``, ``rewritten``, ``empty``, ``refused`` (a
prefilled rollout that added no code: the program is the prefix alone, and is run as such) and ``failed: <reason>``
(the sample itself failed, e.g. ``timeout``: not a verdict on the prefix, so the labeler leaves it out of the count).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from dreamprm.extract import extract_code, join_rollout
from dreamprm.policy.base import (
    FENCE_CLOSE,
    FENCE_OPEN,
    ChatPrompt,
    Completion,
    PolicyBackend,
    SamplingParams,
    prefilled_text,
    uses_prefill,
    with_prefill,
)
from dreamprm.prompts import build_rollout_prompt

FAILED = "failed: "


def rollout_prompt(policy: PolicyBackend, problem: Mapping[str, Any], prefix: str, *, style: str = "cof",
                   prefill: bool = True) -> ChatPrompt:
    """The prompt whose samples continue ``prefix`` (prefilled where the backend supports it; see module doc)."""
    prompt = build_rollout_prompt(problem, prefix, style=style)  # type: ignore[arg-type]
    if not uses_prefill(policy, prefill):
        return prompt
    return with_prefill(prompt, FENCE_OPEN + prefix)


def rollout_params(policy: PolicyBackend, params: SamplingParams, prefill: bool = True) -> SamplingParams:
    """Prefilled rollouts stop at the closing fence."""
    if not uses_prefill(policy, prefill) or FENCE_CLOSE in params.stop:
        return params
    return dataclasses.replace(params, stop=params.stop + (FENCE_CLOSE,))


def rollout_program(prefix: str, completion: Completion, prefilled: bool) -> tuple[str, str]:
    """(program, rule) for one sample of a rollout prompt built by :func:`rollout_prompt`."""
    if not completion.ok:
        return prefix, f"{FAILED}{completion.error}"
    if prefilled:
        opener = FENCE_OPEN + prefix
        continuation = prefilled_text(opener, completion.text).removeprefix(opener)
        continuation = continuation.split(FENCE_CLOSE, 1)[0]
        if not continuation.strip():
            return prefix, "refused"
        return prefix + continuation, "prefilled"
    return join_rollout(prefix, extract_code(completion.text).code)
