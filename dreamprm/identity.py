"""One identity per stage run: a hash of the stage's config (its parameters and the settings sections it reads), the
contents of its inputs and the version of the code that computes it. :class:`StageParameters` computes it from a
stage task's parameters; the same value keys the Prefect cache (``flows._common.inputs_cache_key``), decides whether
a training checkpoint may be resumed (:func:`dreamprm.prm.train.train_prm`), and tags the MLflow run
(``dreamprm.identity``); DVC tracks the same code paths as the stages' ``deps`` and the same settings sections as
their params (``tests/test_identity.py`` keeps ``dvc.yaml`` in line with :data:`STAGE_CODE` and
:data:`STAGE_SETTINGS`).

The code version is a hash of the source files a stage's result depends on (:data:`STAGE_CODE`, paths inside the
``dreamprm`` package, plus ``sandbox`` for stages that execute programs), so editing ``dreamprm/prm/model.py``
recomputes training and what follows, while editing the evaluation code recomputes nothing upstream.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

PACKAGE_DIR = Path(__file__).resolve().parent
SANDBOX_DIR = PACKAGE_DIR.parent / "sandbox"

# The sources (relative to the dreamprm package; "sandbox" is the sibling package) each stage's output depends on:
# the stage's runner (``stages/<stage>.py``, or the flow for fetch and execute) and every module it imports, directly
# or through others, except the OUTPUT_NEUTRAL ones. tests/test_identity.py walks the imports and fails on a gap.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "fetch": ("data", "errors.py", "io.py", "validation.py"),
    "generate": ("stages/generate.py", "generation.py", "prompts", "policy", "extract.py", "steps.py", "models",
                 "data/split.py", "data/livecodebench.py", "data/schema.py"),
    "execute": ("execution.py", "data/samples.py", "data/probes.py", "data/schema.py", "sandbox"),
    "probe": ("execution.py", "data/samples.py", "data/probes.py", "data/schema.py", "sandbox"),
    "label": ("stages/label.py", "labeling", "prompts", "policy", "models", "extract.py", "steps.py", "execution.py",
              "prm/template.py", "data/split.py", "data/policies.py", "data/samples.py", "data/probes.py",
              "data/livecodebench.py", "data/schema.py", "sandbox"),
    "train": ("stages/train.py", "prm", "models", "steps.py", "labeling/mixed.py", "data/schema.py"),
    "correct": ("stages/correct.py", "prm", "models", "steps.py"),
    "evaluate": ("stages/evaluate.py", "evaluate", "prm", "models", "steps.py", "registry.py", "execution.py",
                 "data/split.py", "data/samples.py", "data/probes.py", "data/livecodebench.py", "data/schema.py",
                 "sandbox"),
    "fuse": ("stages/fuse.py", "evaluate", "prm", "models", "steps.py", "execution.py", "data/split.py",
             "data/samples.py", "data/probes.py", "data/livecodebench.py", "data/schema.py", "sandbox"),
}

# Modules a stage may import without being part of its identity: they check, log, store, cache by content or hold
# the settings' defaults, so editing them does not change the values a stage computes. (Evaluate lists registry.py
# anyway: its promotion decision is part of its output. A settings value reaches a stage's identity as a value, not
# as settings.py's source: through STAGE_SETTINGS, for the Prefect cache and the MLflow tag (StageParameters) as for
# DVC.)
OUTPUT_NEUTRAL: tuple[str, ...] = ("__init__.py", "errors.py", "io.py", "settings.py", "tracking.py", "validation.py",
                                   "plots.py", "identity.py", "cache.py", "registry.py")


# The sections of the resolved settings (dreamprm.settings.output_settings) each stage reads: dvc.yaml gives each
# stage these keys of data/settings.json as params, so a changed default, profile or DREAMPRM_ variable recomputes
# the stages that read it. tests/test_identity.py scans each stage's code for settings reads and fails on a gap.
STAGE_SETTINGS: dict[str, tuple[str, ...]] = {
    "fetch": ("livecodebench",),
    "generate": ("policy",),
    "execute": ("sandbox",),
    "probe": ("sandbox",),
    "label": ("policy", "sandbox", "seed"),
    "train": ("prm", "seed"),
    "correct": ("prm", "seed"),
    "evaluate": ("prm", "sandbox", "seed"),
    "fuse": ("prm", "sandbox"),
}


def _files(rel: str) -> list[Path]:
    base = SANDBOX_DIR if rel == "sandbox" else PACKAGE_DIR / rel
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in (".py", ".jinja", ".toml", ".json")
                  and "__pycache__" not in p.parts) + sorted(p for p in base.rglob("SERIES") if p.is_file())


@lru_cache(maxsize=None)
def code_version(stage: str) -> str:
    """sha256 (16 hex) of the stage's source files: their paths and bytes."""
    if stage not in STAGE_CODE:
        raise KeyError(f"no code list for stage {stage!r}; known: {sorted(STAGE_CODE)}")
    h = hashlib.sha256()
    for rel in STAGE_CODE[stage]:
        for f in _files(rel):
            h.update(f.relative_to(PACKAGE_DIR.parent).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def file_digest(path: Path | str) -> str:
    """Content hash of a file, or of a folder's files (paths relative to it, and bytes); "missing" if absent.

    A file's hash is remembered while its stat signature (device, inode, size, modification and change times) stays
    the same, so the cache key and the MLflow tag of one stage run, and the stages of one pipeline process, read a
    1 GB model folder once. The project's writers write a new file and rename it (a new inode); a file rewritten in
    place within the clock's granularity could keep its signature, so, as git does with racily clean files, a file
    changed in the last few seconds is hashed afresh every time and not remembered."""
    p = Path(path)
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(f.relative_to(p).as_posix().encode() + b"\0" + _file_sha256(f))
    elif p.is_file():
        h = hashlib.sha256(_file_sha256(p))
    else:
        return "missing"
    return h.hexdigest()[:16]


_FILE_HASHES: dict[tuple[str, int, int, int, int, int], bytes] = {}
_RACY_NS = 3_000_000_000  # a file changed this recently may still change within its current timestamp


def _file_sha256(path: Path) -> bytes:
    st = path.stat()
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key in _FILE_HASHES:
        return _FILE_HASHES[key]
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").digest()
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
        _FILE_HASHES[key] = digest
    return digest


def frame_digest(df: pd.DataFrame) -> str:
    """Content hash of a table (columns, values, row order)."""
    h = hashlib.sha256(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df.astype(str), index=False).values.tobytes())
    return h.hexdigest()[:16]


def _json_value(value: Any) -> Any:
    """How a config value that JSON cannot hold enters a hash: a dataclass by its fields, anything else as text."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def stage_identity(stage: str, config: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """hash(stage, config, input digests, code version): equal exactly when the stage would compute the same."""
    blob = {"stage": stage, "config": config, "inputs": dict(sorted(inputs.items())), "code": code_version(stage)}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=_json_value).encode()).hexdigest()[:16]


def task_call(local_vars: Mapping[str, Any]) -> dict[str, Any]:
    """A stage runner's own parameters, taken as ``task_call(locals())`` in its first statement (before it binds
    anything else): the same names and values its Prefect task passed, less the live progress callback."""
    return {k: v for k, v in local_vars.items() if k != "progress"}


def stage_settings(stage: str) -> dict[str, Any]:
    """The resolved settings sections ``stage`` reads (:data:`STAGE_SETTINGS`): the values DVC sees as its params."""
    from dreamprm.settings import get_settings, output_settings

    resolved = output_settings(get_settings())
    return {section: resolved[section] for section in STAGE_SETTINGS[stage]}


@dataclass(frozen=True)
class StageParameters:
    """How one stage runner's parameters (the same names as its Prefect task's) enter its identity.

    ``inputs`` name the parameters that are files or folders: their contents count, not their paths. ``neutral``
    name those that do not change what is computed (where it is written, whether to resume, whether to register):
    the Prefect cache key adds them, the identity leaves them out. Every other parameter is config, and so are the
    sections of the resolved settings the stage reads (:data:`STAGE_SETTINGS`, the values DVC sees as the stage's
    params), which a runner reads itself rather than taking as parameters. The flow's cache key
    (``flows._common.inputs_cache_key``) and the runner's MLflow tag both call :meth:`identity` with these, so they
    cannot drift apart."""

    stage: str
    inputs: tuple[str, ...]
    neutral: tuple[str, ...] = ()

    def identity(self, parameters: Mapping[str, Any], read_beside: Mapping[str, Path | str | None] | None = None,
                 derived: Mapping[str, Any] | None = None) -> str:
        """``read_beside``: files the runner finds from its parameters rather than takes as one (the split manifest
        beside a problems table, the registry's champion folder), by content like the inputs; ``None`` entries are
        skipped. An input given as a mapping (evaluate's ``scorers``, name -> folder) counts each folder by name.
        ``derived``: values the runner reads from outside state that change its output (evaluate's registry
        versions, which decide a promotion), counted as config."""
        skip = set(self.inputs) | set(self.neutral)
        config = ({k: v for k, v in parameters.items() if k not in skip} | {"settings": stage_settings(self.stage)}
                  | {f"derived:{k}": v for k, v in (derived or {}).items()})
        inputs: dict[str, str] = {}
        for k in self.inputs:
            value = parameters.get(k)
            if isinstance(value, Mapping):
                inputs |= {f"{k}:{name}": file_digest(path) for name, path in value.items()}
            elif value:
                inputs[k] = file_digest(value)
        inputs |= {k: file_digest(path) for k, path in (read_beside or {}).items() if path}
        return stage_identity(self.stage, config, inputs)
