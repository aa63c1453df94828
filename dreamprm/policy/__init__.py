"""Policy backends behind one interface (:class:`~dreamprm.policy.base.PolicyBackend`).

``get_policy(settings)`` picks the backend named by ``settings.policy.backend`` and imports it lazily, so that the
HTTP backend never imports torch and the local backend never imports httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dreamprm.policy.base import (
    ChatMessage,
    ChatPrompt,
    Completion,
    PolicyBackend,
    PromptLike,
    SamplingParams,
    as_messages,
    generation_key,
)

if TYPE_CHECKING:
    from dreamprm.settings import PolicySettings, Settings

__all__ = [
    "ChatMessage",
    "ChatPrompt",
    "Completion",
    "PolicyBackend",
    "PromptLike",
    "SamplingParams",
    "as_messages",
    "generation_key",
    "get_policy",
    "sampling_params",
]


def sampling_params(policy: PolicySettings, **overrides: Any) -> SamplingParams:
    """SamplingParams from the policy settings (temperature, max_tokens), with keyword overrides (n, seed, ...)."""
    base: dict[str, Any] = {"temperature": policy.temperature, "max_tokens": policy.max_tokens}
    base.update(overrides)
    return SamplingParams(**base)


def get_policy(settings: Settings | PolicySettings, **kwargs: Any) -> PolicyBackend:
    """The backend named by ``settings.policy.backend`` (``transformers`` | ``openai`` | ``llamacpp`` | ``replay``).

    Accepts the whole :class:`Settings` or just its ``policy`` section. Extra keyword arguments go to the backend's
    constructor (e.g. ``candidates=`` for replay, ``concurrency=`` for openai, ``device=`` for transformers,
    ``parallel=`` for llamacpp, over ``settings.policy.llamacpp``). A llamacpp backend owns a server process: use it as a
    context manager (``with get_policy(settings) as policy:``) so the server stops on every exit path.
    """
    policy = getattr(settings, "policy", settings)
    backend = policy.backend
    if backend == "openai":
        from dreamprm.policy.openai_compat import OpenAICompatPolicy

        return OpenAICompatPolicy(model=policy.model, base_url=policy.base_url, **kwargs)
    if backend == "llamacpp":
        from dreamprm.policy.llamacpp import LlamaCppPolicy

        kw = policy.llamacpp.model_dump()
        kw.update(kwargs)
        return LlamaCppPolicy(model=policy.model, **kw)
    if backend == "transformers":
        from dreamprm.policy.transformers_local import TransformersPolicy

        return TransformersPolicy(model=policy.model, **kwargs)
    if backend == "replay":
        from dreamprm.policy.replay import ReplayPolicy

        if "candidates" not in kwargs:
            from dreamprm.settings import Settings

            if isinstance(settings, Settings):
                kwargs["candidates"] = settings.data_dir / "candidates.parquet"
            else:
                raise ValueError("the replay backend needs candidates= (a DataFrame or a path to the candidates table)")
        return ReplayPolicy(**kwargs)
    raise ValueError(f"unknown policy backend {backend!r}; expected one of transformers, openai, llamacpp, replay")
