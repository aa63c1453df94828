"""Cached trunk features: a frozen trunk's vectors at each step end, computed once per input and kept on disk.

In ``head`` mode (:class:`dreamprm.prm.model.PRMConfig` ``finetune="head"``) the backbone never changes, so what the
head reads at each step-end marker (the trunk's last hidden state after its final norm, what
:meth:`ProcessRewardModel.step_logits` feeds the head) is a fixed function of the PRM input's token ids. Computed once,
it turns a warm-up step or a bi-level iteration into a product of a few (steps x hidden) matrices with the head: the
paper's thousands of correction iterations run in minutes on a CPU instead of one backbone forward (and, for the
hypergradient, a double backward) per step. Extraction itself goes through :meth:`ProcessRewardModel.step_features`,
so the candidates of one problem share the pass over its tokens.

Layout: ``<dir>/<trunk key>/<entry key[:2]>/<entry key>.safetensors``, one file per PRM input.

- trunk key: sha256 of the backbone spec, ``num_layers``, dtype, the architecture (its HF config without paths and
  versions) and a digest of every trunk weight, so another layer count, other weights or a fine-tuned trunk never
  reads these features;
- entry key: sha256 of the input ids and marker positions (built by :class:`dreamprm.prm.template.PRMInput` and the
  model's :class:`StepEncoder`, so the template, the truncation and the marker are all in it).

Each file is written under a temporary name and renamed into place, so a killed extraction leaves only whole entries
and a re-run computes exactly the missing ones. A file that cannot be read or has the wrong shape (bytes damaged on
disk) is RECOMPUTED, with a warning naming the file: the cache holds nothing that cannot be rebuilt.

Why ``top_k`` mode has no cache: the trainable top layers need the hidden state of EVERY token below them (not just
the step ends), about 3.5 MB per 1,000-token candidate for Qwen2.5-Coder-0.5B in fp32, some 200 times the step-end
vectors; running only the top layers needs each architecture's own mask and rotary-embedding plumbing; and the gain
is bounded: the forward and backward through the top k layers over all tokens remain, (L + 2k) / 3k of the
per-step cost, 2.7x for k = 2 of 12 layers, where ``head`` mode removes the backbone from the loop altogether.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from dreamprm.prm.template import EncodedExample

if TYPE_CHECKING:
    from dreamprm.prm.model import ProcessRewardModel

log = logging.getLogger(__name__)

FEATURE_VERSION = 1
TENSOR = "features"
CHUNK = 64  # examples per extraction round: a kill loses at most one round, progress moves at least this often
_CONFIG_NOISE = {"_name_or_path", "transformers_version", "dtype", "torch_dtype", "architectures"}


def default_feature_dir() -> Path:
    """``settings.prm.feature_dir``, else ``<cache_dir>/features``."""
    from dreamprm.settings import get_settings

    s = get_settings()
    return s.paths.resolve(s.prm.feature_dir) if s.prm.feature_dir else s.cache_dir / "features"


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 of every parameter and buffer of ``module``: names, dtypes, shapes and bytes (no copies on the CPU;
    a tensor on a GPU is copied to the CPU one at a time)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(t.view(torch.uint8).numpy() if t.numel() else b"")
    return h.hexdigest()


def trunk_identity(prm: ProcessRewardModel) -> dict[str, Any]:
    """What the features depend on besides the input ids."""
    arch = {k: v for k, v in prm.backbone_config.to_dict().items() if k not in _CONFIG_NOISE}
    return {"version": FEATURE_VERSION, "backbone": prm.config.backbone, "num_layers": prm.config.num_layers,
            "dtype": prm.config.dtype, "architecture": arch, "weights": weights_digest(prm.backbone)}


def trunk_key(prm: ProcessRewardModel) -> str:
    blob = json.dumps(trunk_identity(prm), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def entry_key(example: EncodedExample) -> str:
    blob = json.dumps([example.input_ids, example.marker_positions])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class FeatureCache:
    """The on-disk step-end features of one frozen trunk. ``get`` returns them for any encoded examples, computing
    (and storing) only those not on disk yet; ``stats`` tells what the last call found and did."""

    def __init__(self, prm: ProcessRewardModel, directory: str | Path | None = None, *, batch_size: int = 8) -> None:
        if prm.config.finetune != "head":
            raise ValueError("trunk features are fixed, and may be cached, only for a frozen trunk "
                             f"(finetune='head'); this PRM has finetune={prm.config.finetune!r}")
        self.prm = prm
        self.batch_size = batch_size
        self.key = trunk_key(prm)
        self.dir = Path(directory) if directory is not None else default_feature_dir()
        self.dir = self.dir / self.key
        self.hidden = int(prm.head.in_features)
        self.stats: dict[str, float] = {}

    def path(self, example: EncodedExample) -> Path:
        k = entry_key(example)
        return self.dir / k[:2] / f"{k}.safetensors"

    def _read(self, path: Path, num_steps: int) -> torch.Tensor | None:
        """The stored tensor, or None when absent; a damaged file is logged by name and treated as absent."""
        if not path.is_file():
            return None
        from safetensors.torch import load_file

        try:
            t = load_file(str(path))[TENSOR]
            if tuple(t.shape) != (num_steps, self.hidden):
                raise ValueError(f"shape {tuple(t.shape)}, expected {(num_steps, self.hidden)}")
            return t
        except Exception as exc:  # noqa: BLE001 - any unreadable file is recomputed, and named
            log.warning("feature cache file %s is damaged (%s): recomputing it", path, exc)
            self.stats["recomputed_damaged"] = self.stats.get("recomputed_damaged", 0) + 1
            return None

    def _write(self, path: Path, features: torch.Tensor) -> None:
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({TENSOR: features.contiguous()}, str(tmp), metadata={"trunk": self.key})
        os.replace(tmp, path)

    def get(self, examples: Sequence[EncodedExample], *, progress: bool = True) -> list[torch.Tensor]:
        """Features of every example, shape (num_steps, hidden) each, in order."""
        t0 = time.perf_counter()
        self.stats = {"entries": len(examples)}
        paths = [self.path(e) for e in examples]
        out: list[torch.Tensor | None] = [self._read(p, e.num_steps) for p, e in zip(paths, examples)]
        missing: dict[Path, int] = {}  # one computation per distinct input
        for i, f in enumerate(out):
            if f is None:
                missing.setdefault(paths[i], i)
        todo = sorted(missing.values(), key=lambda i: (examples[i].input_ids[: examples[i].prefix_length], i))
        self.stats["computed"] = len(todo)
        if todo:
            from tqdm.auto import tqdm

            log.info("extracting trunk features of %d inputs into %s", len(todo), self.dir)
            with tqdm(total=len(todo), desc="trunk features", unit="cand", disable=None if progress else True) as bar:
                for start in range(0, len(todo), CHUNK):  # sorted by prefix: a problem's candidates stay together
                    chunk = todo[start : start + CHUNK]
                    feats = self.prm.step_features([examples[i] for i in chunk], batch_size=self.batch_size,
                                                   progress=bar.update)
                    for i, f in zip(chunk, feats):
                        self._write(paths[i], f)
                        out[i] = f
        for i, f in enumerate(out):
            if f is None:
                out[i] = out[missing[paths[i]]]
        self.stats["seconds"] = time.perf_counter() - t0
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def score(self, items: Sequence[Any], *, progress: bool = False) -> list[list[float] | None]:
        """Step scores of ``items`` (:class:`PRMInput` s) from the cached trunk features and this PRM's head: what
        :meth:`ProcessRewardModel.score_batch` returns (to float precision), but the trunk runs only for inputs not on
        disk yet. Every PRM of the same frozen trunk (ORM, warm-up and each corrected head) reads the same entries,
        so an evaluation runs the trunk once per candidate instead of once per model, and a re-run not at all.
        A candidate too long for the PRM gets None (:data:`dreamprm.prm.template.TOO_LONG_RULE`)."""
        encoded = self.prm.encode_items(items, too_long="none")
        ok = [i for i, e in enumerate(encoded) if e is not None]
        feats = self.get([encoded[i] for i in ok], progress=progress)  # type: ignore[misc]
        return self.prm.scores_from_features(encoded, dict(zip(ok, feats)))
