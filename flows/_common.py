"""What every stage flow shares: progress shown both in the terminal (rich) and in the Prefect UI (a progress
artifact), and the settings. Kept here so the flows themselves stay a screen long."""

from __future__ import annotations

import time
from typing import Any, Callable

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from dreamprm.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def progress_reporter(key: str, description: str, every_s: float = 2.0) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback: a tqdm bar in the terminal, a Prefect progress artifact in the UI
    (throttled) and a log line every ~10%."""
    from tqdm.auto import tqdm

    artifact_id = None
    try:
        artifact_id = create_progress_artifact(0.0, key=key, description=description)
    except Exception:  # noqa: BLE001 - outside a flow run (plain library use), progress goes to the log only
        artifact_id = None
    last = {"t": 0.0, "decile": -1}
    bar = tqdm(desc=description, unit="item", dynamic_ncols=True, mininterval=1.0)

    def report(done: int, total: int) -> None:
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
