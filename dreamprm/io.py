"""Atomic artifact I/O: every table or file is written to a temporary sibling and renamed into place, so a crash
never leaves a half-written artifact behind and readers see either the old or the new version."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = _umask()
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; artifacts get the usual permissions
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` whole (no file of the old
    folder survives beside the new ones), on error it is deleted and ``path`` is left as it was. Readers see the old
    folder or the new one; only a kill between the two renames leaves neither (the old one is then in a
    ``.<name>.*.stale`` folder beside it). Leftover temporary and stale folders of earlier kills are removed first."""
    path = Path(path)
    tmp = _sibling_temp_dir(path, ".tmp", clear=(".tmp", ".stale"))
    stale: Path | None = None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; folders get the usual permissions
        if path.exists():
            stale = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".stale", dir=path.parent))
            os.replace(path, stale / path.name)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if stale is not None and (stale / path.name).exists() and not path.exists():
            os.replace(stale / path.name, path)  # the new folder never arrived: the old one goes back
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
        raise
    if stale is not None:
        shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def atomic_entries(path: str | Path, owns: Callable[[str], bool]) -> Iterator[Path]:
    """Like ``atomic_dir`` for a folder shared with other writers: yield an empty staging folder beside ``path``; on
    success the entries of ``path`` that ``owns`` claims are replaced by the staged ones (each file or folder by one
    rename) and those not staged again are removed, while entries it does not claim are left alone. An error before
    that leaves ``path`` as it was; the staging folder is removed either way (a kill leaves it, and the next call
    removes it)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    staging = _sibling_temp_dir(path, ".staging", clear=(".staging",))
    try:
        yield staging
        for old in [e for e in path.iterdir() if owns(e.name) and not (staging / e.name).exists()]:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        for new in staging.iterdir():
            target = path / new.name
            if target.is_dir():  # a folder cannot be renamed over a non-empty one: the old one goes first
                shutil.rmtree(target)
            os.replace(new, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sibling_temp_dir(path: Path, suffix: str, clear: tuple[str, ...]) -> Path:
    """A new empty folder ``.<name>.<random><suffix>`` beside ``path``, after removing the folders of that form, with
    a suffix in ``clear``, that killed runs left behind. The name is matched whole (mkdtemp's 8 random characters),
    so a sibling's own temporary folders (``.<name>.v2.<random>.tmp`` of ``<name>.v2``) are never touched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ours = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}({'|'.join(map(re.escape, clear))})")
    for leftover in path.parent.iterdir():
        if ours.fullmatch(leftover.name) and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_text(text: str, path: str | Path) -> Path:
    """Write a text file, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as Parquet, atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def read_parquet(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        from dreamprm.errors import InputDataError

        raise InputDataError("table does not exist; run the stage that writes it first", path=path)
    return pd.read_parquet(path)


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON (indented, sorted keys), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)
