"""Policy backend ``llamacpp``: a local llama.cpp server on a GGUF model, spoken to over the OpenAI protocol.

Why: on a CPU, llama.cpp runs the quantised GGUF directly (no de-quantisation to fp32) and decodes the requests of
its parallel slots in one batch, so Qwen2.5-Coder-0.5B samples several times faster than the transformers backend
(see benchmarks/bench_rollouts.py). The requests go through :class:`~dreamprm.policy.openai_compat.OpenAICompatPolicy`,
the same code that talks to vLLM or OpenAI in production: retries, per-sample failures and error messages are the
same, only the server differs.

``LlamaCppPolicy(model="qwen2.5-coder-0.5b")`` resolves the model (a packaged/parted model name, ``dir::file.gguf`` or a
``.gguf`` path), starts :class:`~dreamprm.policy.llamacpp_server.LlamaCppServer` on it, and stops the server in
:meth:`close` (use it as a context manager: ``with get_policy(settings) as policy: ...``).

llama.cpp specifics handled here:
- it accepts ``n`` only up to its slot count, so a larger ``n`` is sent as several requests of at most ``n_parallel``
  choices, chunk ``c`` seeded ``seed + c * SEED_STRIDE`` (the samples stay reproducible and distinct);
- a request with ``n`` choices holds ``n`` slots, so at most ``n_parallel // n`` requests are in flight (more would
  wait in the server's queue with their timeout running);
- it continues a final assistant message (prefill) and returns that message's text followed by the continuation;
  :attr:`supports_prefill` tells the labeler it may use that (see :mod:`dreamprm.labeling.montecarlo`).
A request that times out becomes failed samples (``timeout: ...``); a server that died mid-run raises
:class:`~dreamprm.policy.llamacpp_server.LlamaCppServerError` saying so, with its exit code and log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dreamprm.errors import ServiceUnavailable
from dreamprm.policy.base import Completion, PolicyBackend, PromptLike, SamplingParams
from dreamprm.policy.llamacpp_server import LlamaCppServer, LlamaCppServerError, ServerConfig

SEED_STRIDE = 1_000_003


def resolve_gguf(model: str, cache_dir: str | Path | None = None) -> Path:
    """The GGUF file that llama.cpp should load for a model spec (assembling a parted model once if needed)."""
    from dreamprm.models import ModelNotAvailable, resolve_model

    try:
        resolved = resolve_model(model, cache_dir)
    except ModelNotAvailable as exc:
        raise LlamaCppServerError(str(exc), reason="model_missing") from exc
    if resolved.gguf_path is None:
        raise LlamaCppServerError(
            f"the llamacpp backend needs a GGUF model; {model!r} resolves to a Hugging Face folder or hub id "
            f"({resolved.path}). Use a packaged model name (qwen2.5-coder-0.5b, smollm2, tinycoder), "
            "'dir::file.gguf' or a .gguf path",
            reason="model_missing",
        )
    return resolved.gguf_path


class LlamaCppPolicy(PolicyBackend):
    """Completions from a llama.cpp server that this object starts and stops. ``n_ctx_per_slot`` tokens of context
    per parallel slot (prompt plus completion). Thread counts of 0 mean every core."""

    name = "llamacpp"
    supports_prefill = True

    def __init__(
        self,
        model: str = "qwen2.5-coder-0.5b",
        *,
        parallel: int = 4,
        threads: int = 0,
        threads_batch: int = 0,
        poll: int = 50,
        ctx_per_slot: int = 4096,
        port: int = 0,
        request_timeout_s: float = 600.0,
        startup_timeout_s: float = 120.0,
        max_retries: int = 1,
        cache_dir: str | Path | None = None,
        server: LlamaCppServer | None = None,
    ) -> None:
        if parallel < 1:
            raise ValueError(f"parallel must be >= 1, got {parallel}")
        from dreamprm.policy.openai_compat import OpenAICompatPolicy

        self.model = model
        self.parallel = parallel
        self.server = server or LlamaCppServer(
            ServerConfig(
                model_path=str(resolve_gguf(model, cache_dir)),
                n_parallel=parallel,
                n_ctx=parallel * ctx_per_slot,
                n_threads=threads,
                n_threads_batch=threads_batch,
                poll=poll,
                port=port,
                startup_timeout_s=startup_timeout_s,
            )
        )
        self.server.start()
        try:
            self.client = OpenAICompatPolicy(
                model=model,
                base_url=self.server.base_url,
                api_key="",
                concurrency=parallel,
                timeout_s=request_timeout_s,
                max_retries=max_retries,
                backoff_base_s=0.5,
                backoff_max_s=5.0,
            )
        except BaseException:
            self.server.stop()
            raise

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def _chunks(self, params: SamplingParams) -> list[SamplingParams]:
        if params.n <= self.parallel:
            return [params]
        out = []
        for c, start in enumerate(range(0, params.n, self.parallel)):
            seed = None if params.seed is None else params.seed + c * SEED_STRIDE
            out.append(dataclasses.replace(params, n=min(self.parallel, params.n - start), seed=seed))
        return out

    def generate(self, prompts: Sequence[PromptLike], params: SamplingParams) -> list[list[Completion]]:
        prompts = list(prompts)
        results: list[list[Completion]] = [[] for _ in prompts]
        if not prompts:
            return results
        for chunk in self._chunks(params):
            self.client.concurrency = max(1, self.parallel // chunk.n)
            try:
                outs = self.client.generate(prompts, chunk)
            except ServiceUnavailable as exc:
                if not self.server.alive():
                    raise LlamaCppServerError(
                        f"the llama.cpp server for {self.model!r} is gone: {self.server.describe_exit()}",
                        reason="exited",
                    ) from exc
                raise
            for acc, got in zip(results, outs):
                acc.extend(got)
        return results

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self.server.stop()
