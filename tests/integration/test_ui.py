"""The system as a user meets it, checked in a real browser.

The light services start the way a user starts them (``infra/scripts/services.sh start``, isolated in a temporary
project directory on free ports), ``python -m flows.deployments`` serves the deployments, ``prefect deployment run
pipeline/pipeline --watch`` runs the pipeline once (scripted OpenAI-compatible policy on 127.0.0.1, the tiny
``tinycoder`` PRM, the real sandbox), and headless Chromium (Playwright driving the system ``/usr/bin/chromium``; no
browser is downloaded) checks that the Prefect UI lists the deployments and the flow run and that the MLflow UI shows
the experiment and the registered model with its aliases. Screenshots are kept in ``test-output/ui/``.

A second test reuses the running servers: the release watcher run twice on the same release files triggers one
pipeline run, not two.

CI installs Chromium with ``DREAMPRM_INSTALL_CHROMIUM=1 bash infra/scripts/install-system-deps.sh``; where Chromium or
the playwright package is missing the browser test is skipped with a message saying so.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    UI_TIMEOUT_MS,
    ScriptedPolicyServer,
    running_policy_server,
    sandbox_skip_reason,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "infra" / "scripts" / "services.sh"
BIN = Path(sys.executable).parent
SHOTS = REPO / "test-output" / "ui"
# Three problems: one on each side of the split manifest (train, meta, eval).
RUN_PARAMS = {"problems_limit": 3, "n": 2, "rollouts": 2, "train_epochs": 1, "correct_iterations": 1}
EXPERIMENT = "dreamprm-code"
MODEL = "dreamprm-code-prm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no {path})"


@dataclass
class Stack:
    """The servers of one temporary project directory, and the environment that sends clients to them."""

    root: Path
    prefect_url: str
    mlflow_url: str
    env: dict[str, str]
    policy: ScriptedPolicyServer
    serve: subprocess.Popen | None = None
    serve_log: Path | None = None
    flow_run: dict = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"{self.prefect_url}/api"

    def request(self, method: str, path: str, body: dict | None = None):
        import httpx

        r = httpx.request(method, f"{self.api}{path}", json=body, timeout=30)
        return r

    def serving(self) -> bool:
        return self.serve is not None and self.serve.poll() is None

    def stop_serving(self) -> None:
        """SIGINT, as Ctrl-C in the user's terminal; SIGKILL to the process group only if it does not exit."""
        if self.serve is None:
            return
        if self.serve.poll() is None:
            self.serve.send_signal(signal.SIGINT)
            try:
                self.serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.serve.pid, signal.SIGKILL)
                self.serve.wait(timeout=30)
        self.serve = None


def _services(cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SERVICES), cmd], env=env, capture_output=True, text=True, timeout=420,
                          check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """services.sh start in a temporary project dir (free ports); services.sh stop at the end, even on failure."""
    root = tmp_path_factory.mktemp("ui-project")
    prefect_port, mlflow_port = _free_port(), _free_port()
    while mlflow_port == prefect_port:
        mlflow_port = _free_port()
    svc_env = {**os.environ, "DREAMPRM_ROOT": str(root), "PREFECT_PORT": str(prefect_port),
               "MLFLOW_PORT": str(mlflow_port), "VENV": str(BIN.parent)}
    with running_policy_server() as policy:
        try:
            started = _services("start", svc_env)
            assert started.returncode == 0, f"services.sh start failed:\n{started.stdout}\n{started.stderr}"
            prefect_url, mlflow_url = f"http://127.0.0.1:{prefect_port}", f"http://127.0.0.1:{mlflow_port}"
            env = {**os.environ,
                   "DREAMPRM_ROOT": str(root),
                   "PREFECT_HOME": str(root / ".prefect"),
                   "PREFECT_API_URL": f"{prefect_url}/api",
                   "MLFLOW_TRACKING_URI": mlflow_url,
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                   "DREAMPRM_POLICY__BACKEND": "openai",
                   "DREAMPRM_POLICY__BASE_URL": f"http://127.0.0.1:{policy.server_port}/v1",
                   "DREAMPRM_POLICY__MODEL": "scripted",
                   "DREAMPRM_PRM__BACKBONE": "tinycoder", "DREAMPRM_PRM__FINETUNE": "lora",
                   "DREAMPRM_PRM__NUM_LAYERS": "2",
                   "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/dreamprm-docker.sock"),
                   "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
            yield Stack(root=root, prefect_url=prefect_url, mlflow_url=mlflow_url, env=env, policy=policy)
        finally:
            stopped = _services("stop", svc_env)
            print(stopped.stdout, stopped.stderr)


@pytest.fixture(scope="module")
def served(stack: Stack) -> Iterator[Stack]:
    """``python -m flows.deployments`` from the project dir, until the deployments are registered."""
    stack.serve_log = stack.root / "serve.log"
    with stack.serve_log.open("w") as log:
        stack.serve = subprocess.Popen([sys.executable, "-m", "flows.deployments"], cwd=stack.root, env=stack.env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        missing = ["pipeline/pipeline", "release-watcher/release-watcher"]
        while missing:
            assert stack.serving(), f"flows.deployments exited:\n{_tail(stack.serve_log)}"
            assert time.monotonic() < deadline, f"deployments {missing} not registered:\n{_tail(stack.serve_log)}"
            missing = [m for m in missing if stack.request("GET", f"/deployments/name/{m}").status_code != 200]
            time.sleep(2)
        yield stack
    finally:
        stack.stop_serving()


def _browser_skip_reason() -> str | None:
    if not CHROMIUM.is_file():
        return (f"{CHROMIUM} is missing: install it with DREAMPRM_INSTALL_CHROMIUM=1 bash "
                "infra/scripts/install-system-deps.sh (or apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -c requirements.lock -e '.[dev]'"
    return None


def _deployment_runs(stack: Stack, name: str) -> dict[str, dict]:
    dep = stack.request("GET", f"/deployments/name/{name}")
    dep.raise_for_status()
    runs = stack.request("POST", "/flow_runs/filter",
                         {"flow_runs": {"deployment_id": {"any_": [dep.json()["id"]]}}, "limit": 200})
    runs.raise_for_status()
    return {r["id"]: r for r in runs.json()}


_NO_BROWSER = _browser_skip_reason()


@pytest.mark.timeout(2400)
@pytest.mark.skipif(_NO_BROWSER is not None, reason=_NO_BROWSER or "")
def test_pipeline_deployment_run_shows_in_prefect_and_mlflow_uis(served: Stack) -> None:
    reason = sandbox_skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    stack = served
    cmd = [str(BIN / "prefect"), "deployment", "run", "pipeline/pipeline", "--watch", "--watch-timeout", "1800"]
    for k, v in RUN_PARAMS.items():
        cmd += ["--param", f"{k}={v}"]
    t0 = time.monotonic()
    run = subprocess.run(cmd, cwd=stack.root, env=stack.env, capture_output=True, text=True, timeout=2000,
                         check=False)
    seconds = time.monotonic() - t0
    assert run.returncode == 0, (f"prefect deployment run failed ({seconds:.0f} s):\n{run.stdout[-4000:]}\n"
                                 f"{run.stderr[-4000:]}\n--- serve log ---\n{_tail(stack.serve_log, 120)}")
    runs = _deployment_runs(stack, "pipeline/pipeline")
    assert len(runs) == 1, runs
    flow_run = next(iter(runs.values()))
    assert flow_run["state"]["type"] == "COMPLETED", flow_run["state"]
    assert stack.policy.requests > 0  # the pipeline's policy really was the scripted server
    print(f"pipeline deployment run {flow_run['name']} completed in {seconds:.0f} s")

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        shot = "start"
        try:
            shot = "prefect-deployments"
            page.goto(f"{stack.prefect_url}/deployments")
            expect(page.get_by_role("link", name="release-watcher", exact=True).first).to_be_visible()
            expect(page.get_by_role("link", name="pipeline", exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)

            shot = "prefect-flow-runs"  # top-level runs only: the pipeline run, not its stage subflows
            page.goto(f"{stack.prefect_url}/runs")
            page.get_by_text("Hide subflows", exact=True).click()
            expect(page.get_by_text(flow_run["name"], exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)

            shot = "prefect-flow-run"
            page.goto(f"{stack.prefect_url}/runs/flow-run/{flow_run['id']}")
            expect(page.get_by_text(flow_run["name"]).first).to_be_visible()
            expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
            expect(page.get_by_role("link", name="pipeline").first).to_be_visible()  # flow / deployment links
            page.get_by_text("Subflow Runs", exact=True).first.click()  # the stages, one subflow run each
            expect(page.get_by_text("evaluate", exact=True).first).to_be_visible()
            page.wait_for_timeout(2000)  # let the run graph finish drawing for the screenshot
            page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)

            shot = "mlflow-experiments"
            page.goto(f"{stack.mlflow_url}/#/experiments")
            expect(page.get_by_role("link", name=EXPERIMENT, exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)

            shot = "mlflow-registered-model"  # the version table's Aliases column: "@ champion", "@ challenger"
            page.goto(f"{stack.mlflow_url}/#/models/{MODEL}")
            expect(page.get_by_text(MODEL, exact=True).first).to_be_visible()
            expect(page.get_by_text("@ challenger", exact=True).first).to_be_visible()
            # The challenger is champion only if it beat random on the held-out problem (dreamprm.registry).
            from mlflow import MlflowClient

            # Both URIs explicit: an earlier test in this process may have set a global registry URI (a local
            # sqlite store), which MlflowClient would otherwise use for the registry calls.
            client = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
            version = client.get_model_version_by_alias(MODEL, "challenger")
            promoted = "champion" in (version.aliases or [])
            assert ("random bar" not in version.tags["promotion"]) == promoted, version.tags
            if promoted:
                expect(page.get_by_text("@ champion", exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)
        except AssertionError:
            page.screenshot(path=SHOTS / f"{shot}-FAILED.png", full_page=True)
            raise
        finally:
            browser.close()


@pytest.mark.timeout(900)
def test_release_watcher_twice_triggers_one_pipeline_run(served: Stack, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from dreamprm.settings import get_settings
    from flows.release_watcher import release_watcher_flow

    stack = served
    # Nobody executes the triggered run: it stays scheduled on the server, where it is counted (and then deleted).
    stack.stop_serving()
    lcb = tmp_path / "lcb"
    lcb.mkdir()
    rows = [{"question_id": f"q{i}", "question_title": f"t{i}", "question_content": "print the sum",
             "contest_date": f"2025-0{i}-01T00:00:00", "difficulty": "easy"} for i in (1, 2)]
    (lcb / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    state = tmp_path / "release_state.json"
    monkeypatch.setenv("DREAMPRM_ROOT", str(stack.root))
    get_settings.cache_clear()
    before = set(_deployment_runs(stack, "pipeline/pipeline"))
    new: set[str] = set()
    try:
        with temporary_settings(updates={PREFECT_API_URL: stack.api}):
            try:
                first = release_watcher_flow(lcb_dir=str(lcb), state_path=str(state), dry_run=False,
                                             in_process=False)
                second = release_watcher_flow(lcb_dir=str(lcb), state_path=str(state), dry_run=False,
                                              in_process=False)
            finally:
                # Send the in-process flows' logs and events now, while the server is up; left to interpreter exit
                # they are retried against a stopped server (a minute of "Error logging to API").
                from prefect.events.worker import EventsWorker
                from prefect.logging.handlers import APILogWorker

                APILogWorker.drain_all(timeout=30, at_exit=False)
                EventsWorker.drain_all(timeout=30, at_exit=False)
        new = set(_deployment_runs(stack, "pipeline/pipeline")) - before
        assert first["new"] and "triggered" in first, first
        assert not second["new"] and "triggered" not in second, second
        assert new == {first["triggered"]["flow_run_id"]}, (new, first)
        assert json.loads(state.read_text())  # the release it saw is recorded
    finally:
        get_settings.cache_clear()
        for run_id in new:
            stack.request("DELETE", f"/flow_runs/{run_id}")
