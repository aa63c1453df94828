from __future__ import annotations

from pathlib import Path

import pytest

from dreamprm.settings import Settings, get_settings


def test_demo_profile_is_default_and_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DREAMPRM_PROFILE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    s = Settings()
    assert s.profile == "demo"
    assert s.tracking.mlflow_tracking_uri == "sqlite:///mlflow.db"
    assert s.prefect_api_url is None
    assert s.policy.backend == "llamacpp" and s.policy.model == "qwen2.5-coder-0.5b"
    assert s.prm.backbone == "qwen2.5-coder-0.5b" and s.prm.finetune == "head" and s.demo.n == 3


def test_production_profile_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DREAMPRM_PROFILE", "production")
    monkeypatch.setenv("DREAMPRM_SANDBOX__WORKERS", "7")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    s = Settings()
    assert s.profile == "production"
    assert s.policy.backend == "openai"
    assert s.sandbox.workers == 7
    assert s.tracking.mlflow_tracking_uri.startswith("http://")


def test_tool_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    s = Settings()
    assert s.tracking.mlflow_tracking_uri == "http://mlflow.example:5000"
    assert s.prefect_api_url == "http://127.0.0.1:4200/api"


def test_unknown_profile_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DREAMPRM_PROFILE", "nope")
    with pytest.raises(FileNotFoundError, match="DREAMPRM_PROFILE"):
        Settings()


def test_paths_resolve_against_root(project_root: Path) -> None:
    s = get_settings()
    assert s.data_dir == project_root / "data"
    assert s.cache_dir == project_root / ".cache" / "dreamprm"
