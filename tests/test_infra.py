"""infra/: the production stack's wiring, read without Docker (the stack itself runs in
tests/integration/test_stack.py: images built, started, the pipeline run through its worker)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"


def _stack() -> dict:
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


def test_compose_stack_has_postgres_backed_servers_and_a_sandbox_capable_worker() -> None:
    services = _stack()["services"]
    assert set(services) >= {"postgres", "prefect-server", "mlflow", "worker", "prm"}
    assert "postgresql+asyncpg://" in services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    mlflow_cmd = services["mlflow"]["command"]
    assert any(a.startswith("--backend-store-uri=postgresql+psycopg2://") for a in mlflow_cmd)
    assert "--artifacts-destination=/mlartifacts" in mlflow_cmd and "--serve-artifacts" in mlflow_cmd
    assert any(v.startswith("mlartifacts:") for v in services["mlflow"]["volumes"])
    worker = services["worker"]
    assert any(v.endswith(":/var/run/docker.sock") for v in worker["volumes"])
    assert worker["environment"]["PREFECT_API_URL"].startswith("http://prefect-server:")
    assert worker["environment"]["MLFLOW_TRACKING_URI"].startswith("http://mlflow:")
    assert worker["stop_signal"] == "SIGINT"  # the Prefect worker ignores SIGTERM while polling
    assert any("@${STACK_PRM_ALIAS:-champion}" in a for a in services["prm"]["command"])


def test_every_service_is_health_checked_and_data_lives_in_named_volumes() -> None:
    stack = _stack()
    for name, svc in stack["services"].items():
        assert "healthcheck" in svc, name
        assert "build" not in svc and svc["image"].startswith("${STACK_IMAGE_PREFIX"), name  # built by stack.sh only
    assert set(stack["volumes"]) == {"pgdata", "mlartifacts", "workdata"}
    mounts = {v.split(":")[0] for svc in stack["services"].values() for v in svc.get("volumes", [])}
    assert {"pgdata", "mlartifacts", "workdata"} <= mounts


def test_images_copy_what_exists_and_never_the_ca_bundle() -> None:
    files = [INFRA / "images" / "python" / "Dockerfile", INFRA / "images" / "postgres" / "Dockerfile",
             INFRA / "images" / "base.Dockerfile"]
    for f in files:
        for line in f.read_text().splitlines():
            if line.startswith(("COPY", "ADD")) and "--from" not in line:
                assert "ca" not in Path(line.split()[-2]).name.split("."), line  # no CA file is ever copied in
                for src in line.split()[1:-1]:
                    if not src.startswith("infra/build/"):  # written by stack.sh
                        assert (REPO / src).exists(), src
    # The CA bundle reaches pip only through the build's file server, into /tmp, removed in the same RUN.
    pip_build = (INFRA / "images" / "python" / "pip-build.sh").read_text()
    assert 'rm -f "$ca"' in pip_build and "PIP_CERT" in pip_build
    assert "CREATE DATABASE prefect" in (INFRA / "postgres-init.sql").read_text()
    assert "CREATE DATABASE mlflow" in (INFRA / "postgres-init.sql").read_text()


def test_prefect_yaml_deploys_the_pipeline_to_the_stack_pool() -> None:
    spec = yaml.safe_load((INFRA / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    assert deps["pipeline"]["entrypoint"] == "flows/pipeline.py:pipeline_flow"
    assert {d["work_pool"]["name"] for d in deps.values()} == {"dreamprm-process"}
    assert "dreamprm-process" in _stack()["services"]["worker"]["command"]
    for d in deps.values():
        assert (REPO / d["entrypoint"].split(":")[0]).is_file()


def test_stack_script_syntax_and_usage() -> None:
    subprocess.run(["bash", "-n", str(INFRA / "scripts" / "stack.sh")], check=True)
    r = subprocess.run(["bash", str(INFRA / "scripts" / "stack.sh")], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "usage:" in r.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_file_is_valid_for_docker_compose() -> None:
    r = subprocess.run(["docker-compose", "-f", str(INFRA / "docker-compose.yml"), "--profile", "serve", "config",
                        "--services"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == {"postgres", "prefect-server", "mlflow", "worker", "prm"}
