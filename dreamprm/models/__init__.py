"""Model specs and loading: packaged GGUF models (``smollm2``, ``tinycoder``) converted once into a plain cache, or
any Hugging Face model path / hub id. Heavy imports (torch, transformers) happen inside the functions."""

from dreamprm.models.loading import (
    default_cache_dir,
    ensure_plain_model,
    load_backbone,
    load_causal_lm,
    load_tokenizer,
)
from dreamprm.models.registry import (
    PACKAGED_MODELS,
    ModelNotAvailable,
    PackagedModel,
    ResolvedModel,
    resolve_model,
)

__all__ = [
    "PACKAGED_MODELS",
    "ModelNotAvailable",
    "PackagedModel",
    "ResolvedModel",
    "default_cache_dir",
    "ensure_plain_model",
    "load_backbone",
    "load_causal_lm",
    "load_tokenizer",
    "resolve_model",
]
