"""What every stage flow shares: progress shown both in the terminal (rich) and in the Prefect UI (a progress
artifact), and the settings. Kept here so the flows themselves stay a screen long."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from dreamprm.identity import StageParameters
from dreamprm.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def progress_reporter(key: str, description: str, every_s: float = 2.0) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback: a tqdm bar in the terminal, a Prefect progress artifact in the UI
    (throttled) and a log line every ~10%. The bar appears with the first report, so a stage that stops on bad
    input before any work leaves no empty bar in front of its error line."""
    from tqdm.auto import tqdm

    artifact_id = None
    try:
        artifact_id = create_progress_artifact(0.0, key=key, description=description)
    except Exception:  # noqa: BLE001 - outside a flow run (plain library use), progress goes to the log only
        artifact_id = None
    last = {"t": 0.0, "decile": -1}
    bars: list[Any] = []

    def report(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(desc=description, unit="item", dynamic_ncols=True, mininterval=1.0))
        bar = bars[0]
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
        pct = 100.0 * done / max(total, 1)
        now = time.monotonic()
        if artifact_id is not None and (now - last["t"] >= every_s or done >= total):
            update_progress_artifact(artifact_id, pct)
            last["t"] = now
        decile = int(pct // 10)
        if decile != last["decile"]:
            last["decile"] = decile
            try:
                get_run_logger().info("%s: %d/%d (%.0f%%)", description, done, total, pct)
            except Exception:  # noqa: BLE001
                pass

    return report


def retry_when(*exc_types: type[BaseException]) -> Callable[[Any, Any, Any], bool]:
    """A Prefect ``retry_condition_fn``: retry only when the task failed with one of ``exc_types`` (a service that
    may come back), never for bad input."""

    def condition(task: Any, task_run: Any, state: Any) -> bool:
        try:
            state.result()
        except exc_types:
            return True
        except Exception:  # noqa: BLE001 - any other failure is final
            return False
        return False

    return condition


def fingerprint(paths: list[Path | str], pattern: str = "*", content: bool = False) -> str:
    """A hash of every file (folders: recursively, files matching ``pattern``): of (path, size, mtime_ns), cheap, for
    inputs from outside that nobody rewrites; or with ``content`` of (path, sha256 of the bytes), for the pipeline's
    own artifacts, which an upstream stage may rewrite with the same bytes (that must not invalidate what follows)."""
    h = hashlib.sha256()
    for p in map(Path, paths):
        files = sorted(x for x in p.rglob(pattern) if x.is_file()) if p.is_dir() else [p]
        for f in files:
            try:
                if content:
                    with open(f, "rb") as fh:
                        digest = hashlib.file_digest(fh, "sha256").hexdigest()
                    h.update(f"{f.resolve()}|{digest}\n".encode())
                else:
                    st = f.stat()
                    h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{f}|missing\n".encode())
    return h.hexdigest()


def inputs_cache_key(params: StageParameters) -> Callable[[Any, dict[str, Any]], str]:
    """A Prefect ``cache_key_fn`` for a stage task that reads files: the stage identity
    (:meth:`dreamprm.identity.StageParameters.identity`, the same value the stage runner tags its MLflow run with:
    the task's config parameters, the content digests of its input files and the version of the ``dreamprm`` code
    the stage runs), the task's output-neutral parameters (where it writes, whether it resumes or registers) and the
    task's own source. A re-run with unchanged inputs (even rewritten with the same bytes by an upstream stage) is
    served from the cache; a changed input, setting or code recomputes. Flows pass ``refresh_cache=True`` when the
    task's outputs have gone missing (see :func:`cached_stage`)."""

    def key(context: Any, parameters: dict[str, Any]) -> str:
        import inspect

        neutral = json.dumps({k: parameters.get(k) for k in params.neutral}, sort_keys=True, default=str)
        source = hashlib.sha256(inspect.getsource(context.task.fn).encode()).hexdigest()
        return hashlib.sha256(f"{params.identity(parameters)}|{neutral}|{source}".encode()).hexdigest()

    return key


def cached_stage(task_fn: Any, outputs: list[str | Path]) -> Any:
    """The task itself, or a copy that refreshes its cache when any expected output is missing."""
    if all(Path(p).exists() for p in outputs):
        return task_fn
    return task_fn.with_options(refresh_cache=True)
