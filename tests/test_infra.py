"""infra/: the production stack's compose file wires what the README promises (the stack itself needs a registry
for its base images, which these machines do not reach; `make services` is what runs here)."""

from __future__ import annotations

from pathlib import Path

import yaml

INFRA = Path(__file__).resolve().parents[1] / "infra"


def test_compose_stack_has_postgres_backed_servers_and_a_sandbox_capable_worker() -> None:
    stack = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    services = stack["services"]
    assert set(services) >= {"postgres", "prefect-server", "mlflow", "worker"}
    assert "postgresql+asyncpg://" in services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    mlflow_cmd = services["mlflow"]["command"]
    assert "--backend-store-uri postgresql://" in mlflow_cmd and "--artifacts-destination /mlartifacts" in mlflow_cmd
    assert any(v.startswith("mlartifacts:") for v in services["mlflow"]["volumes"])
    worker = services["worker"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in worker["volumes"]
    assert worker["environment"]["PREFECT_API_URL"].startswith("http://prefect-server:")
    assert worker["environment"]["MLFLOW_TRACKING_URI"].startswith("http://mlflow:")
    for name in ("mlflow", "worker"):  # the images it builds exist
        assert (INFRA.parent / services[name]["build"]["dockerfile"]).is_file()
    assert (INFRA / "postgres-init.sql").is_file()
    assert set(stack["volumes"]) >= {"pgdata", "mlartifacts"}
