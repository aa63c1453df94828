"""Load models from a spec, converting packaged GGUF models once into a plain safetensors cache.

A GGUF-loaded transformers model refuses ``save_pretrained`` and costs about 16 s and 2.25 GB to load (SmolLM2), so the
first use converts it: load the GGUF (transformers de-quantizes it), rebuild a plain model from its config without the
``quantization_config``, copy the state dict, and save model + tokenizer into
``<cache_dir>/models/<name>/``. The folder is written into a temporary sibling and renamed into place, under a file
lock, so concurrent processes convert at most once and never see a half-written folder. Later loads read the plain
folder (fp32, about 1.7 s for SmolLM2).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from dreamprm.models.registry import ModelNotAvailable, ResolvedModel, resolve_model

log = logging.getLogger(__name__)

CONVERSION_VERSION = 1
SOURCE_FILE = "dreamprm_source.json"


def default_cache_dir() -> Path:
    from dreamprm.settings import get_settings

    return get_settings().cache_dir


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _source_record(resolved: ResolvedModel) -> dict[str, Any]:
    gguf = resolved.gguf_path
    assert gguf is not None
    st = gguf.stat()
    return {
        "spec": resolved.spec,
        "gguf": str(gguf),
        "size": st.st_size,
        "conversion_version": CONVERSION_VERSION,
    }


def _is_current(folder: Path, resolved: ResolvedModel) -> bool:
    marker = folder / SOURCE_FILE
    if not marker.is_file() or not (folder / "config.json").is_file():
        return False
    try:
        rec = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    want = _source_record(resolved)
    return rec.get("size") == want["size"] and rec.get("conversion_version") == CONVERSION_VERSION


def _convert_gguf(resolved: ResolvedModel, dest: Path) -> None:
    """Load the GGUF, rebuild a plain fp32 model from its config, and save model + tokenizer into ``dest``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    gguf_model = AutoModelForCausalLM.from_pretrained(
        resolved.path, gguf_file=resolved.gguf_file, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    # Tied weights (lm_head = embed_tokens) may be reported missing; anything else is a real mismatch.
    tied = set(getattr(plain, "_tied_weights_keys", None) or [])
    real_missing = [k for k in missing if k not in tied and not k.endswith("lm_head.weight")]
    if real_missing or unexpected:
        raise ModelNotAvailable(
            f"converting {resolved.gguf_path}: state dict mismatch (missing {real_missing[:5]}, "
            f"unexpected {list(unexpected)[:5]})"
        )
    del gguf_model
    plain.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    rec = _source_record(resolved)
    rec["sha256"] = _file_digest(resolved.gguf_path)  # type: ignore[arg-type]
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    (dest / SOURCE_FILE).write_text(json.dumps(rec, indent=2))


def ensure_plain_model(spec: str | ResolvedModel, cache_dir: str | Path | None = None) -> str:
    """The path that ``from_pretrained`` should read for ``spec``: for a packaged / GGUF model, the converted cache
    folder (converted now if missing or stale); for a Hugging Face path or hub id, the path itself."""
    resolved = spec if isinstance(spec, ResolvedModel) else resolve_model(spec, cache_dir)
    if resolved.kind != "gguf":
        return resolved.path
    from filelock import FileLock

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    models = root / "models"
    folder = models / resolved.name
    if _is_current(folder, resolved):
        return str(folder)
    models.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models / f".{resolved.name}.lock"), timeout=1800):
        if _is_current(folder, resolved):  # another process finished while we waited
            return str(folder)
        log.info("converting %s (%s) into %s, once", resolved.spec, resolved.gguf_path, folder)
        from dreamprm.io import atomic_dir

        with atomic_dir(folder) as tmp:
            _convert_gguf(resolved, tmp)
    return str(folder)


def _layer_kwargs(path: str, num_layers: int | None) -> dict[str, Any]:
    """``num_hidden_layers`` (and a matching ``layer_types``, where the config has one) to keep the first k layers."""
    if num_layers is None:
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    total = getattr(config, "num_hidden_layers", None)
    if total is None:
        raise ValueError(
            f"{path}: the config has no num_hidden_layers; cannot truncate to {num_layers} layers"
        )
    if not 1 <= num_layers <= total:
        raise ValueError(f"num_layers must be in [1, {total}] for {path}, got {num_layers}")
    kwargs: dict[str, Any] = {"num_hidden_layers": num_layers}
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == total:
        kwargs["layer_types"] = layer_types[:num_layers]
    return kwargs


class _quiet_truncation:
    """Silence transformers' load report while truncating layers: the dropped layers' weights are "unexpected" by
    design."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.level: int | None = None

    def __enter__(self) -> None:
        if self.active:
            from transformers.utils import logging as hf_logging

            self.level = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()

    def __exit__(self, *exc: object) -> None:
        if self.active and self.level is not None:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity(self.level)


def _dtype(dtype: Any) -> Any:
    import torch

    if dtype is None or dtype == "auto":
        return torch.float32 if dtype is None else "auto"
    if isinstance(dtype, str):
        return getattr(torch, dtype)
    return dtype


def load_tokenizer(spec: str, *, cache_dir: str | Path | None = None, padding_side: str | None = None) -> Any:
    """The model's tokenizer (from the converted cache for packaged models). A tokenizer without a pad token gets
    its eos token (else unk) as pad token."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ensure_plain_model(spec, cache_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    if padding_side is not None:
        tok.padding_side = padding_side
    return tok


def _load(auto_class: Any, spec: str, num_layers: int | None, dtype: Any, device: str | None,
          cache_dir: str | Path | None, quiet: bool) -> Any:
    """``auto_class.from_pretrained`` on the model's plain folder, the first ``num_layers`` decoder layers kept."""
    path = ensure_plain_model(spec, cache_dir)
    with _quiet_truncation(quiet):
        model = auto_class.from_pretrained(path, dtype=_dtype(dtype), **_layer_kwargs(path, num_layers))
    return model.to(device) if device else model


def load_causal_lm(
    spec: str,
    *,
    num_layers: int | None = None,
    dtype: Any = None,
    device: str | None = None,
    cache_dir: str | Path | None = None,
) -> Any:
    """A causal LM (with its LM head) for generation. ``num_layers`` keeps only the first k decoder layers."""
    from transformers import AutoModelForCausalLM

    model = _load(AutoModelForCausalLM, spec, num_layers, dtype, device, cache_dir, quiet=num_layers is not None)
    model.eval()
    return model


def load_backbone(
    spec: str,
    *,
    num_layers: int | None = None,
    dtype: Any = None,
    device: str | None = None,
    cache_dir: str | Path | None = None,
) -> Any:
    """The bare transformer (``AutoModel``: hidden states, no LM head), e.g. as a reward-model backbone."""
    from transformers import AutoModel

    # Always quiet: a causal-LM checkpoint's lm_head is "unexpected" for the bare AutoModel by design.
    return _load(AutoModel, spec, num_layers, dtype, device, cache_dir, quiet=True)
