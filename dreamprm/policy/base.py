"""The one interface every policy backend implements.

A *policy* is the LLM that writes candidate programs (generate stage) and Monte-Carlo rollouts (label stage). Callers
hand a backend a batch of chat prompts and sampling parameters and get back ``n`` completions per prompt, in order:

    backend.generate(prompts, params) -> list[list[Completion]]     # len == len(prompts); each inner len == params.n

A backend never raises for a single bad sample: a timeout, an HTTP error that survived the retries, or an empty answer
becomes a :class:`Completion` with ``error`` set (and ``text == ""``), so that the flow records the failure per sample
instead of crashing. It raises :class:`dreamprm.errors.ServiceUnavailable` only when the whole backend is unusable
(server down, model not found, bad API key), because then nothing can succeed.

Backends (see :func:`dreamprm.policy.get_policy`):
- ``openai``: :class:`dreamprm.policy.openai_compat.OpenAICompatPolicy` (vLLM, OpenAI, any compatible server)
- ``transformers``: ``dreamprm.policy.transformers_local.TransformersPolicy`` (local Hugging Face model)
- ``replay``: :class:`dreamprm.policy.replay.ReplayPolicy` (recorded candidates, no model)
- ``llamacpp``: :class:`dreamprm.policy.llamacpp.LlamaCppPolicy` (a local llama.cpp server it starts, spoken to
  through the ``openai`` backend)
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One chat message; ``as_dict()`` gives the OpenAI wire format ``{"role": ..., "content": ...}``."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ChatPrompt:
    """A prompt for one problem: the chat messages, plus bookkeeping that travels with it.

    ``problem_id`` lets the replay backend look up recorded answers; ``prompt_version`` is the hash of the templates
    that built the messages (``dreamprm.prompts.PROMPT_VERSION``), and ``kind`` names the template
    (``cof_stdin``, ``plain_functional``, ``rollout_cof_stdin``, ...). ``code_prefix`` is set for rollout prompts: the
    starter code the model was asked to continue (backends do not use it; the labeler needs it to rebuild programs).
    """

    messages: tuple[ChatMessage, ...]
    problem_id: str = ""
    kind: str = ""
    prompt_version: str = ""
    code_prefix: str | None = None

    def as_messages(self) -> list[dict[str, str]]:
        return [m.as_dict() for m in self.messages]

    def cache_key(self) -> str:
        """sha256 of the exact messages (and template version): two prompts with equal keys are the same request."""
        payload = {"messages": self.as_messages(), "prompt_version": self.prompt_version}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


PromptLike = ChatPrompt | Sequence[ChatMessage] | Sequence[dict[str, str]]


def as_messages(prompt: PromptLike) -> list[dict[str, str]]:
    """Normalise a :data:`PromptLike` (a ChatPrompt, ChatMessages, or OpenAI-style dicts) into wire-format dicts."""
    if isinstance(prompt, ChatPrompt):
        return prompt.as_messages()
    out: list[dict[str, str]] = []
    for m in prompt:
        if isinstance(m, ChatMessage):
            out.append(m.as_dict())
        elif isinstance(m, dict) and "role" in m and "content" in m:
            out.append({"role": str(m["role"]), "content": str(m["content"])})
        else:
            raise TypeError(f"a chat message must be a ChatMessage or a {{'role', 'content'}} dict, got {m!r}")
    return out


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``seed=None`` means unseeded; a backend given a seed should make the batch reproducible
    (local backends: seed the generator per prompt as ``seed + prompt_index``; HTTP backends send it as is)."""

    n: int = 1
    temperature: float = 0.2
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    def cache_key(self) -> str:
        """A stable string naming every parameter (for content-hash cache keys of generations and rollouts)."""
        return json.dumps(self.as_dict(), sort_keys=True)


@dataclass
class Completion:
    """One sampled completion. ``error`` is None on success, else a short reason (``timeout``, ``http_500: ...``,
    ``empty``); ``finish_reason`` is the server's/generator's (``stop``, ``length``) when known."""

    text: str
    finish_reason: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


class PolicyBackend(ABC):
    """A source of completions. Subclasses set ``name`` (the backend kind) and ``model`` (the model id that goes into
    cache keys and the candidates' ``policy`` column) and implement :meth:`generate`."""

    name: str = "base"
    model: str = ""
    # True when a final assistant message in the prompt is continued as is (prefill) and the answer's text is that
    # message followed by the continuation (llama.cpp); the generator then prefills the CoF answer opening and the
    # Monte-Carlo labeler the rollout prefixes.
    supports_prefill: bool = False

    @abstractmethod
    def generate(self, prompts: Sequence[PromptLike], params: SamplingParams) -> list[list[Completion]]:
        """Return ``params.n`` completions for each prompt, in prompt order. Never raises for one failed sample."""

    def sample(
        self,
        prompts: Sequence[PromptLike],
        *,
        n: int = 1,
        temperature: float = 0.2,
        top_p: float = 1.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Keyword form of :meth:`generate`."""
        params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
        return self.generate(prompts, params)

    def generate_one(self, prompt: PromptLike, params: SamplingParams) -> list[Completion]:
        """Convenience: the completions of a single prompt."""
        return self.generate([prompt], params)[0]

    def identity(self) -> dict[str, Any]:
        """What the outputs depend on besides prompt and sampling parameters (goes into cache keys)."""
        return {"backend": self.name, "model": self.model}

    def close(self) -> None:
        """Release resources (HTTP clients, models). Safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def generation_key(prompt: PromptLike, backend: PolicyBackend, params: SamplingParams) -> str:
    """sha256 naming everything a generation depends on: the exact messages and template version, the backend's
    identity (kind + model) and every sampling parameter. Use it as the cache key of generations and rollouts."""
    if isinstance(prompt, ChatPrompt):
        prompt_key = prompt.cache_key()
    else:
        prompt_key = hashlib.sha256(json.dumps(as_messages(prompt), sort_keys=True).encode()).hexdigest()
    payload = {"prompt": prompt_key, "policy": backend.identity(), "sampling": params.as_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


FENCE_OPEN = "```python\n"
FENCE_CLOSE = "```"


def uses_prefill(policy: PolicyBackend, enabled: bool = True) -> bool:
    """Whether prompts for ``policy`` may end with a prefilled assistant turn."""
    return enabled and bool(getattr(policy, "supports_prefill", False))


def with_prefill(prompt: ChatPrompt, opening: str) -> ChatPrompt:
    """``prompt`` plus a final assistant message ``opening`` that the backend continues (kind ``prefill_<kind>``)."""
    import dataclasses

    return dataclasses.replace(prompt, messages=prompt.messages + (ChatMessage("assistant", opening),),
                               kind=f"prefill_{prompt.kind}")


def prefilled_text(opening: str, text: str) -> str:
    """The whole answer of a prefilled request: the opening, then the continuation (llama.cpp returns both; a server
    that returns only the continuation, like vLLM's ``continue_final_message``, gets the opening put back)."""
    return text if text.startswith(opening) else opening + text
