"""Fixtures for the sandbox tests: a real Docker pool (integration) built by the offline route when missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    env = os.environ.get("SHARED_DATA") or os.environ.get("DREAMPRM_PATHS__SHARED_DATA_DIR")
    return Path(env) if env else (REPO / ".." / "shared" / "data").resolve()


def T(inp: str, out: str, kind: str = "stdin") -> dict:
    return {"input": inp, "output": out, "testtype": kind}


def sandbox_containers(client) -> list:
    from sandbox.docker_backend import LABEL

    return client.containers.list(all=True, filters={"label": LABEL})


@pytest.fixture(scope="session")
def docker_client():
    try:
        from sandbox.docker_backend import docker_client as make
        client = make()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Docker daemon ({exc}); start one: eval \"$(sandbox/scripts/start-dockerd.sh)\"")
    from sandbox.image import build_image

    build_image(os.environ.get("DREAMPRM_SANDBOX_ROUTE", "offline"), client=client)
    return client


@pytest.fixture(scope="module")
def pool(docker_client):
    from sandbox.docker_backend import DockerBackend

    with DockerBackend(workers=2, memory_mb=512, pids_limit=64, client=docker_client) as b:
        yield b


@pytest.fixture(scope="session")
def host_pids_before():
    out = subprocess.run(["ps", "-eo", "pid,comm"], capture_output=True, text=True).stdout
    return out
