"""The production stack (infra/docker-compose.yml) as a user runs it, on a real Docker daemon.

``infra/scripts/stack.sh build`` builds the images (no registry here: the offline route from the project's own Debian
base), ``stack.sh up`` starts Postgres, the Prefect server, the MLflow server and the worker and registers the
deployments, then ``prefect deployment run pipeline/pipeline --watch`` runs the pipeline once through the stack's
worker on tiny settings (scripted OpenAI-compatible policy, the tiny ``tinycoder`` PRM, the real Docker sandbox on
the host's daemon). Checked: the flow run completed; MLflow's experiment and registry live in the stack's Postgres;
headless Chromium sees the completed flow run in the Prefect UI and the experiment and the registered model with its
``champion`` alias in the MLflow UI; ``stack.sh serve`` serves ``models:/dreamprm-code-prm@champion`` and one request
with a problem and two candidates returns step scores and one pick; ``stack.sh down`` then ``up`` finds the flow run,
the experiment and the model again; a worker killed mid-run (SIGKILL, after the run's first training stage finished)
leaves the flow run Crashed (the zombie automation of infra/automations.yaml, seen in the UI too) and a re-run with
the same parameters completes without repeating what had finished (no new policy requests: generations and rollouts
come from the content caches; the finished training task is a Prefect cache hit); bad input (a taken port, a missing Docker socket, Postgres not ready in time, a
wrong POSTGRES_PASSWORD) fails with one message naming the service and leaves nothing running. At the end the test
removes its containers, network and volumes and checks that none is left.

The stack runs under its own compose project name and free ports, so it never touches a user's stack. Timings and
memory are printed (pytest -s) and written to test-output/stack/measurements.json; screenshots to test-output/stack/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from tests.integration.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    UI_TIMEOUT_MS,
    ScriptedPolicyServer,
    _Handler,
    _humaneval,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "infra" / "scripts" / "stack.sh"
BIN = Path(sys.executable).parent
OUT = REPO / "test-output" / "stack"
# Six problems: the split manifest puts two on each side (train, meta, eval), as in test_pipeline.py.
RUN_PARAMS = {"problems_limit": 6, "n": 2, "rollouts": 2, "label_limit": 0, "train_epochs": 1,
              "correct_iterations": 1}
EXPERIMENT = "dreamprm-code"
MODEL = "dreamprm-code-prm"
# Special characters on purpose: the password goes URL-encoded into the servers' connection URLs.
PASSWORD = "s3cret/p@ss:%word"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _skip_reason() -> str | None:
    if not shutil.which("docker-compose"):
        return "docker-compose is missing: bash infra/scripts/install-system-deps.sh"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "no Docker daemon answers: bash sandbox/scripts/start-dockerd.sh"
    if subprocess.run(["docker", "image", "inspect", "dreamprm-sandbox:latest"], capture_output=True,
                      check=False).returncode != 0:
        return "the sandbox image is missing: make sandbox-up"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: DREAMPRM_INSTALL_CHROMIUM=1 bash infra/scripts/install-system-deps.sh"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -c requirements.lock -e '.[dev]'"
    return None


class GatewayPolicyServer(ScriptedPolicyServer):
    """The scripted policy, listening on the stack network's gateway (the host side of the bridge), which only the
    stack's containers reach."""

    def __init__(self, host: str) -> None:
        ThreadingHTTPServer.__init__(self, (host, 0), _Handler)
        self.problems = _humaneval()
        self.requests = 0


@dataclass
class Stack:
    project: str
    env: dict[str, str]
    prefect_url: str
    mlflow_url: str
    prm_url: str
    times: dict[str, float] = field(default_factory=dict)

    def sh(self, cmd: str, timeout: float = 1800, **extra: str) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        r = subprocess.run(["bash", str(STACK), cmd], env={**self.env, **extra}, capture_output=True, text=True,
                           timeout=timeout, check=False)
        print(f"stack.sh {cmd} {extra or ''}: rc {r.returncode} in {time.monotonic() - t0:.0f} s")
        return r

    def api(self, method: str, path: str, body: dict | None = None):
        import httpx

        r = httpx.request(method, f"{self.prefect_url}/api{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json() if r.content else None

    def containers(self, all_: bool = True) -> list[str]:
        args = ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={self.project}"]
        out = subprocess.run(args + (["-a"] if all_ else []), capture_output=True, text=True, check=True).stdout
        return out.split()

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.project}"
        nets = subprocess.run(["docker", "network", "ls", "-q", "--filter", label], capture_output=True, text=True,
                              check=True).stdout.split()
        vols = subprocess.run(["docker", "volume", "ls", "-q", "--filter", label], capture_output=True, text=True,
                              check=True).stdout.split()
        return {"containers": self.containers(), "networks": nets, "volumes": vols}

    def gateway(self) -> str:
        net = f"{self.project}_default"
        return subprocess.run(["docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net],
                              capture_output=True, text=True, check=True).stdout.strip()


def _ok(r: subprocess.CompletedProcess, what: str) -> None:
    assert r.returncode == 0, f"{what} failed (rc {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    project = f"dreamprm-stacktest-{uuid.uuid4().hex[:6]}"
    ports = {"STACK_PREFECT_PORT": _free_port(), "STACK_MLFLOW_PORT": _free_port(), "STACK_PRM_PORT": _free_port()}
    assert len(set(ports.values())) == 3
    env = {**os.environ, "STACK_PROJECT": project, "POSTGRES_PASSWORD": PASSWORD,
           **{k: str(v) for k, v in ports.items()}}
    s = Stack(project=project, env=env,
              prefect_url=f"http://127.0.0.1:{ports['STACK_PREFECT_PORT']}",
              mlflow_url=f"http://127.0.0.1:{ports['STACK_MLFLOW_PORT']}",
              prm_url=f"http://127.0.0.1:{ports['STACK_PRM_PORT']}")
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        yield s
    finally:
        down = s.sh("down", timeout=300, STACK_VOLUMES="remove")
        print(down.stdout, down.stderr)
        left = s.leftovers()
        (OUT / "measurements.json").write_text(json.dumps(s.times, indent=2))
        print("measurements:", json.dumps(s.times))
        assert left == {"containers": [], "networks": [], "volumes": []}, left


def _memory_mib(stack: Stack) -> dict[str, float]:
    ids = stack.containers(all_=False)
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *ids],
                         capture_output=True, text=True, check=True).stdout
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 2**20}
    mem = {}
    for line in out.splitlines():
        name, usage = line.split(" ", 1)
        used = usage.split("/")[0].strip()
        for unit, factor in units.items():
            if used.endswith(unit):
                mem[name.replace(f"{stack.project}_", "")] = round(float(used[: -len(unit)]) * factor, 1)
                break
    return mem


def _bad_input(stack: Stack) -> None:
    """Each failure names the service and the fix, and nothing of the project is left running."""
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the stack's own connections may be in TIME_WAIT
    taken.bind(("127.0.0.1", int(stack.env["STACK_PREFECT_PORT"])))
    taken.listen(1)
    try:
        r = stack.sh("up", timeout=300, STACK_SKIP_BUILD="1")
    finally:
        taken.close()
    assert r.returncode != 0 and "prefect-server: port" in r.stderr and "STACK_PREFECT_PORT=" in r.stderr, r.stderr
    assert stack.containers(all_=False) == []

    r = stack.sh("up", timeout=300, STACK_SKIP_BUILD="1", STACK_DOCKER_SOCKET="/nonexistent/docker.sock")
    assert r.returncode != 0 and "worker: the Docker socket /nonexistent/docker.sock does not exist" in r.stderr, \
        r.stderr
    assert stack.containers(all_=False) == []

    # No time at all to become ready: Postgres (the first service started) is reported, with the fix.
    r = stack.sh("up", timeout=300, STACK_SKIP_BUILD="1", STACK_WAIT_S="0")
    assert r.returncode != 0 and "postgres: not ready after 0 s" in r.stderr and "STACK_WAIT_S" in r.stderr, r.stderr
    assert stack.containers(all_=False) == []

    r = stack.sh("up", timeout=300, STACK_SKIP_BUILD="1", POSTGRES_PASSWORD="not-the-password")
    assert r.returncode != 0 and "postgres:" in r.stderr and "POSTGRES_PASSWORD does not match" in r.stderr, \
        r.stderr
    assert stack.containers(all_=False) == []


def _pipeline_run(stack: Stack, policy: GatewayPolicyServer) -> dict:
    env = {**stack.env, "PREFECT_API_URL": f"{stack.prefect_url}/api", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    cmd = [str(BIN / "prefect"), "deployment", "run", "pipeline/pipeline", "--watch", "--watch-timeout", "1500",
           "--job-variable", f"env={json.dumps(_job_env(policy))}"]
    for k, v in RUN_PARAMS.items():
        cmd += ["--param", f"{k}={v}"]
    t0 = time.monotonic()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1600, check=False)
    stack.times["pipeline_run_s"] = round(time.monotonic() - t0, 1)
    logs = subprocess.run(["docker", "logs", "--tail", "80", f"{stack.project}_worker_1"], capture_output=True,
                          text=True, check=False)
    assert run.returncode == 0, (f"prefect deployment run failed:\n{run.stdout[-4000:]}\n{run.stderr[-3000:]}\n"
                                 f"--- worker ---\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")
    dep = stack.api("GET", "/deployments/name/pipeline/pipeline")
    runs = stack.api("POST", "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}}})
    assert len(runs) == 1 and runs[0]["state"]["type"] == "COMPLETED", runs
    assert policy.requests > 0  # the worker's flow run really talked to the scripted policy
    return runs[0]


def _mlflow_state(stack: Stack) -> dict:
    """The experiment, and the registered model's aliases as the stack's Postgres holds them."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp is not None and exp.artifact_location.startswith("mlflow-artifacts:"), exp
    aliases = client.get_registered_model(MODEL).aliases
    assert "challenger" in aliases, aliases
    # The registry lives in the stack's Postgres.
    rows = subprocess.run(["docker", "exec", f"{stack.project}_postgres_1", "psql", "-U", "dreamprm", "-d", "mlflow",
                           "-tAc", "select name, alias, version from registered_model_aliases"],
                          capture_output=True, text=True, check=True).stdout
    for alias, version in aliases.items():
        assert f"{MODEL}|{alias}|{version}" in rows, rows
    return {"experiment_id": exp.experiment_id, "aliases": dict(aliases)}


def _browser(stack: Stack, flow_run: dict, tag: str, aliases: list[str]) -> list[str]:
    from playwright.sync_api import expect, sync_playwright

    seen = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        shot = "start"
        try:
            shot = f"{tag}-prefect-flow-run"
            page.goto(f"{stack.prefect_url}/runs/flow-run/{flow_run['id']}")
            expect(page.get_by_text(flow_run["name"]).first).to_be_visible()
            expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
            expect(page.get_by_role("link", name="pipeline").first).to_be_visible()
            seen.append(f"Prefect flow run {flow_run['name']}: Completed, deployment pipeline")
            page.screenshot(path=OUT / f"{shot}.png", full_page=True)

            shot = f"{tag}-mlflow-experiments"
            page.goto(f"{stack.mlflow_url}/#/experiments")
            expect(page.get_by_role("link", name=EXPERIMENT, exact=True).first).to_be_visible()
            seen.append(f"MLflow experiment {EXPERIMENT}")
            page.screenshot(path=OUT / f"{shot}.png", full_page=True)

            shot = f"{tag}-mlflow-registered-model"
            page.goto(f"{stack.mlflow_url}/#/models/{MODEL}")
            expect(page.get_by_text(MODEL, exact=True).first).to_be_visible()
            for alias in aliases:  # the version table's Aliases column: "@ champion", "@ challenger"
                expect(page.get_by_text(f"@ {alias}", exact=True).first).to_be_visible()
            seen.append(f"MLflow registered model {MODEL} with aliases {', '.join('@ ' + a for a in aliases)}")
            page.screenshot(path=OUT / f"{shot}.png", full_page=True)
        except AssertionError:
            page.screenshot(path=OUT / f"{shot}-FAILED.png", full_page=True)
            raise
        finally:
            browser.close()
    return seen


def _serve_and_score(stack: Stack, policy: GatewayPolicyServer, alias: str) -> dict:
    import httpx

    r = stack.sh("serve", timeout=600, STACK_PRM_ALIAS=alias)
    _ok(r, "stack.sh serve")
    prob = policy.problems["has_close_elements"]
    good = prob["prompt"] + prob["canonical_solution"]
    bad = prob["prompt"] + "    return None\n"
    body = {"dataframe_records": [{"problem": prob["prompt"], "code": good}, {"problem": prob["prompt"], "code": bad}]}
    resp = httpx.post(f"{stack.prm_url}/invocations", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    preds = resp.json()["predictions"]
    assert len(preds) == 2, preds
    for p in preds:
        assert p["step_scores"] and all(0.0 <= x <= 1.0 for x in p["step_scores"]), p
    assert sum(bool(p["pick"]) for p in preds) == 1, preds
    return {"alias": alias, "predictions": preds}


# The killed run trains for longer than the first run (a new train identity, so its training is really computed in
# the run that gets killed) and corrects for longer (the window after training in which the worker is killed).
KILL_PARAMS = {**RUN_PARAMS, "train_epochs": 2, "correct_iterations": 40}


def _job_env(policy: GatewayPolicyServer) -> dict[str, str]:
    return {"DREAMPRM_POLICY__BACKEND": "openai",
            "DREAMPRM_POLICY__BASE_URL": f"http://{policy.server_address[0]}:{policy.server_port}/v1",
            "DREAMPRM_POLICY__MODEL": "scripted", "DREAMPRM_PRM__BACKBONE": "tinycoder",
            "DREAMPRM_PRM__NUM_LAYERS": "2", "DREAMPRM_PRM__FINETUNE": "lora"}


def _start_run(stack: Stack, policy: GatewayPolicyServer, params: dict) -> dict:
    dep = stack.api("GET", "/deployments/name/pipeline/pipeline")
    return stack.api("POST", f"/deployments/{dep['id']}/create_flow_run",
                     {"parameters": params, "job_variables": {"env": _job_env(policy)}})


def _wait_state(stack: Stack, run_id: str, types: set[str], timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        run = stack.api("GET", f"/flow_runs/{run_id}")
        if run["state"] and run["state"]["type"] in types:
            return run
        assert time.monotonic() < deadline, f"flow run {run_id} not in {types} after {timeout_s:.0f} s: {run['state']}"
        time.sleep(1)


def _stage_runs(stack: Stack, parent_id: str, flow_name: str) -> list[dict]:
    """The subflow runs of one stage flow (e.g. every ``train`` subflow) under a pipeline run."""
    return stack.api("POST", "/flow_runs/filter", {"flows": {"name": {"any_": [flow_name]}},
                                                   "flow_runs": {"parent_flow_run_id": {"any_": [parent_id]}}})


def _killed_worker_then_rerun(stack: Stack, policy: GatewayPolicyServer) -> dict:
    """SIGKILL the worker once the run's first training stage finished; the run must end Crashed, the restarted
    worker must run a re-run to completion, reusing what the killed run had finished."""
    worker = f"{stack.project}_worker_1"
    killed = _start_run(stack, policy, KILL_PARAMS)
    deadline = time.monotonic() + 1200
    while not any(r["state"]["type"] == "COMPLETED" for r in _stage_runs(stack, killed["id"], "train")):
        state = stack.api("GET", f"/flow_runs/{killed['id']}")["state"]
        assert state["type"] not in ("COMPLETED", "FAILED", "CRASHED"), f"run ended before the kill: {state}"
        assert time.monotonic() < deadline, "the run's training stage did not finish in 20 minutes"
        time.sleep(0.5)
    subprocess.run(["docker", "kill", "-s", "KILL", worker], capture_output=True, check=True)
    t_kill = time.monotonic()
    requests_before = policy.requests
    trained = [r["id"] for r in _stage_runs(stack, killed["id"], "train") if r["state"]["type"] == "COMPLETED"]
    crashed = _wait_state(stack, killed["id"], {"CRASHED", "COMPLETED", "FAILED"}, timeout_s=420)
    assert crashed["state"]["type"] == "CRASHED", crashed["state"]
    out = {"crashed_after_kill_s": round(time.monotonic() - t_kill, 1), "finished_train_stages": len(trained)}

    subprocess.run(["docker", "start", worker], capture_output=True, check=True)
    rerun = _wait_state(stack, _start_run(stack, policy, KILL_PARAMS)["id"], {"COMPLETED", "FAILED", "CRASHED"},
                        timeout_s=1200)
    assert rerun["state"]["type"] == "COMPLETED", rerun["state"]
    assert policy.requests == requests_before, "the re-run asked the policy again: generations were not reused"
    train_subflows = [r["id"] for r in _stage_runs(stack, rerun["id"], "train")]
    tasks = stack.api("POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": train_subflows}}})
    cached = [t for t in tasks if t["name"].startswith("train_task") and t["state"]["name"] == "Cached"]
    assert len(cached) >= len(trained) >= 1, [(t["name"], t["state"]["name"]) for t in tasks]
    out.update(rerun_s=round((time.monotonic() - t_kill) - out["crashed_after_kill_s"], 1),
               rerun_cached_train_tasks=len(cached), crashed_run=crashed["name"], crashed_run_id=crashed["id"])
    return out


def _browser_crashed(stack: Stack, run_id: str, name: str) -> str:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto(f"{stack.prefect_url}/runs/flow-run/{run_id}")
            expect(page.get_by_text(name).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text("Crashed", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            page.screenshot(path=OUT / "killed-worker-crashed-run.png", full_page=True)
        finally:
            browser.close()
    return f"Prefect flow run {name}: Crashed"


@pytest.mark.timeout(3000)
def test_stack_builds_runs_the_pipeline_shows_it_serves_the_champion_and_keeps_data(stack: Stack) -> None:
    t0 = time.monotonic()
    r = stack.sh("build", timeout=2400)
    _ok(r, "stack.sh build")
    stack.times["build_s"] = round(time.monotonic() - t0, 1)

    t0 = time.monotonic()
    r = stack.sh("up", timeout=900, STACK_SKIP_BUILD="1")
    _ok(r, "stack.sh up")
    stack.times["first_up_s"] = round(time.monotonic() - t0, 1)
    assert f"Prefect UI:  {stack.prefect_url}" in r.stdout and f"MLflow UI:   {stack.mlflow_url}" in r.stdout
    assert stack.api("GET", "/health") is True
    names = {d["name"] for d in stack.api("POST", "/deployments/filter", {})}
    assert {"pipeline", "release-watcher", "train", "evaluate"} <= names, names
    # The release watcher's schedule would start runs of its own on the worker: paused for the test.
    watcher = stack.api("GET", "/deployments/name/release-watcher/release-watcher")
    stack.api("PATCH", f"/deployments/{watcher['id']}", {"paused": True})
    stack.times["memory_idle_mib"] = _memory_mib(stack)

    policy = GatewayPolicyServer(stack.gateway())
    Thread(target=policy.serve_forever, daemon=True).start()
    try:
        flow_run = _pipeline_run(stack, policy)
        ml = _mlflow_state(stack)
        aliases = sorted(ml["aliases"])
        stack.times["browser_saw"] = _browser(stack, flow_run, "first", aliases)
        # The champion when the pipeline promoted one (the challenger must beat random with its paired lower bound
        # above zero, which the tiny random PRM may not do); else the challenger, served the same way.
        served = "champion" if "champion" in aliases else "challenger"
        stack.times["prm_response"] = _serve_and_score(stack, policy, served)
        stack.times["memory_with_prm_mib"] = _memory_mib(stack)

        # Down then up: the containers go, the volumes stay, and so do the flow run, the experiment and the model.
        _ok(stack.sh("down", timeout=300), "stack.sh down")
        assert stack.containers() == []
        t0 = time.monotonic()
        r = stack.sh("up", timeout=900, STACK_SKIP_BUILD="1")
        _ok(r, "stack.sh up (second)")
        stack.times["restart_up_s"] = round(time.monotonic() - t0, 1)
        again = stack.api("GET", f"/flow_runs/{flow_run['id']}")
        assert again["state"]["type"] == "COMPLETED", again["state"]
        assert _mlflow_state(stack) == ml
        stack.times["browser_saw_after_restart"] = _browser(stack, flow_run, "restarted", aliases)
        stack.times["killed_worker"] = kill = _killed_worker_then_rerun(stack, policy)
        stack.times["browser_saw_crashed"] = _browser_crashed(stack, kill["crashed_run_id"], kill["crashed_run"])
        _ok(stack.sh("down", timeout=300), "stack.sh down (second)")
    finally:
        policy.shutdown()
        policy.server_close()

    _bad_input(stack)
