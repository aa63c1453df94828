"""One MLflow helper for every stage, so runs line up in MLflow's compare view.

Every stage run is named ``<stage>/<data_version>/<git commit>`` and carries the same tags and parameters:
stage, data version, policy, backbone, seed, git commit. MLflow itself is imported lazily (it costs ~2 s).
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from dreamprm.settings import Settings, get_settings


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The short commit of the working tree (``+dirty`` when it has changes), or ``unknown`` outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("+dirty" if dirty else "")) if sha else "unknown"


@dataclass(frozen=True)
class RunIdentity:
    """What identifies a stage run; the same fields in every stage. ``seed`` is None for a stage whose output no seed
    changes (fetch, execute, fuse): its tag then says "none" rather than a seed the stage never read."""

    stage: str
    data_version: str = "none"
    policy: str = "none"
    backbone: str = "none"
    seed: int | None = None
    git_commit: str = field(default_factory=git_commit)

    @property
    def run_name(self) -> str:
        return f"{self.stage}/{self.data_version}/{self.git_commit}"

    def tags(self) -> dict[str, str]:
        return {f"dreamprm.{k}": "none" if v is None else str(v) for k, v in asdict(self).items()}


PARENT_RUN_ENV = "DREAMPRM_PARENT_RUN_ID"


@contextmanager
def parent_run(identity: RunIdentity, params: dict[str, Any] | None = None,
               settings: Settings | None = None) -> Iterator[Any]:
    """The pipeline's MLflow run: every stage run opened inside this block is nested under it."""
    with stage_run(identity, params, settings) as run:
        previous = os.environ.get(PARENT_RUN_ENV)
        os.environ[PARENT_RUN_ENV] = run.info.run_id
        try:
            yield run
        finally:
            if previous is None:
                os.environ.pop(PARENT_RUN_ENV, None)
            else:
                os.environ[PARENT_RUN_ENV] = previous


def configure_mlflow(settings: Settings | None = None) -> None:
    """Point MLflow at the configured tracking store and experiment."""
    import mlflow

    settings = settings or get_settings()
    mlflow.set_tracking_uri(settings.tracking.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.tracking.mlflow_tracking_uri)
    mlflow.set_experiment(settings.tracking.mlflow_experiment)


@contextmanager
def stage_run(identity: RunIdentity, params: dict[str, Any] | None = None,
              settings: Settings | None = None) -> Iterator[Any]:
    """Open an MLflow run for one stage with the shared naming, tags and parameters; yields the active run."""
    import mlflow

    configure_mlflow(settings)
    tags = identity.tags()
    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        # Nested under the pipeline's run (by tag: stage tasks may run in other threads than the parent run).
        tags["mlflow.parentRunId"] = parent
    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=identity.run_name, tags=tags, nested=nested) as run:
        base = {k: v for k, v in asdict(identity).items()}
        mlflow.log_params({**base, **{k: _param(v) for k, v in (params or {}).items()}})
        yield run


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."
