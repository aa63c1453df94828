"""Shared test fixtures.

- ``shared_data``: the benchmark data folder ``../shared/data`` beside the repo; tests that need it are skipped with a
  clear message where it is absent (CI always has it).
- ``project_root``: an isolated project directory (DREAMPRM_ROOT, cwd, MLflow sqlite store, Prefect home) per test.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DREAMPRM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()

# One Prefect home for the whole test session, outside the repo, with analytics off (see RECIPES.md). Set even where
# PREFECT_HOME is already set (the Makefile exports the project's .prefect for the demo): test flow runs must neither
# land in the user's Prefect history nor meet an earlier session's runs. DREAMPRM_TEST_PREFECT_HOME overrides it.
os.environ["PREFECT_HOME"] = (os.environ.get("DREAMPRM_TEST_PREFECT_HOME")
                              or tempfile.mkdtemp(prefix="dreamprm-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# A busy 2-core machine can take longer than the default 20 s to start the ephemeral API server.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data folder {SHARED_DATA} is absent (it sits beside the repo as ../shared/data in CI)")
    return SHARED_DATA


@pytest.fixture
def fresh_accelerate_state() -> Iterator[None]:
    """accelerate keeps one state per process (device, mixed precision) and refuses a second Accelerator with other
    settings; a test that trains with other settings than the rest (bf16, another device), as a separate `dreamprm
    train` run would, starts and ends with a clean state (as accelerate's own tests do)."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture
def project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory used as DREAMPRM_ROOT and cwd, with its own MLflow store."""
    from dreamprm.settings import get_settings

    monkeypatch.setenv("DREAMPRM_ROOT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
