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


def test_output_settings_keep_what_changes_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """DVC's settings stage writes these values; a storage, logging or parallelism setting must not be among them
    (it would rerun stages for nothing), a value a stage computes with must."""
    from dreamprm.settings import OUTPUT_NEUTRAL_SETTINGS, output_settings

    for name in ("DREAMPRM_PROFILE", "MLFLOW_TRACKING_URI", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    base = output_settings(Settings())
    assert {"profile", "paths", "tracking", "prefect_api_url", "demo"}.isdisjoint(base)
    assert "workers" not in base["sandbox"] and "port" not in base["policy"]["llamacpp"]
    assert base["sandbox"]["test_timeout_s"] == 6.0 and base["prm"]["backbone"] == "qwen2.5-coder-0.5b"
    monkeypatch.setenv("DREAMPRM_SANDBOX__WORKERS", "8")
    monkeypatch.setenv("DREAMPRM_TRACKING__MLFLOW_EXPERIMENT", "other")
    assert output_settings(Settings()) == base
    monkeypatch.setenv("DREAMPRM_SANDBOX__TEST_TIMEOUT_S", "9")
    assert output_settings(Settings())["sandbox"]["test_timeout_s"] == 9.0
    assert all(key.split(".")[0] in Settings.model_fields for key in OUTPUT_NEUTRAL_SETTINGS)
