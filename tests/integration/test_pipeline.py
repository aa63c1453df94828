"""The whole pipeline against real components: the Docker sandbox, Prefect (ephemeral), MLflow (sqlite) with the
model registry, a real transformer PRM (the tiny tinycoder model), and the OpenAI-compatible policy backend talking
HTTP to a scripted server on 127.0.0.1 (a stand-in for vLLM whose answers are known, so the labels are known).

Then the pipeline runs again: everything is served from caches, and the policy receives no new request.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

# The fixtures policy_server and sandbox_ready come from tests/integration/conftest.py (shared with test_ui.py).
from tests.integration.conftest import ScriptedPolicyServer

pytestmark = [pytest.mark.integration]


def test_pipeline_end_to_end_then_resumes_from_caches(project_root: Path, policy_server: ScriptedPolicyServer,
                                                      sandbox_ready: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    from dreamprm.settings import get_settings

    monkeypatch.setenv("DREAMPRM_POLICY__BACKEND", "openai")
    monkeypatch.setenv("DREAMPRM_POLICY__BASE_URL", f"http://127.0.0.1:{policy_server.server_port}/v1")
    monkeypatch.setenv("DREAMPRM_POLICY__MODEL", "scripted")
    monkeypatch.setenv("DREAMPRM_PRM__BACKBONE", "tinycoder")
    monkeypatch.setenv("DREAMPRM_PRM__FINETUNE", "lora")  # the demo profile's head mode is tested elsewhere
    monkeypatch.setenv("DREAMPRM_PRM__NUM_LAYERS", "2")
    get_settings.cache_clear()
    from flows.pipeline import pipeline_flow

    kwargs = {"problems_limit": 6, "n": 2, "rollouts": 2, "label_limit": 0, "train_epochs": 1,
              "correct_iterations": 2}
    out = pipeline_flow(**kwargs)
    data = project_root / "data"

    executions = pd.read_parquet(data / "executions.parquet")
    generated = pd.read_parquet(data / "generated.parquet")
    verdict = dict(zip(executions["candidate_id"], executions["passed"]))
    # sample 0 is the canonical solution and must pass; sample 1 returns None and must fail
    assert [verdict[c] for c in generated.sort_values(["problem_id", "sample_index"])["candidate_id"]] == \
        [True, False] * 6

    # The split manifest put the six problems on the three sides; labels cover train and meta, never eval.
    from dreamprm.data.split import SplitManifest

    manifest = SplitManifest.load(data / "split_manifest.json")
    side = generated["problem_id"].map(manifest.sides)
    assert sorted(side.value_counts().items()) == [("eval", 4), ("meta", 4), ("train", 4)]
    labels = pd.read_parquet(data / "step_labels.parquet")
    assert len(labels) == 8 and set(labels["split"]) == {"train", "meta"}
    assert not set(labels["problem_id"]) & manifest.ids("eval")
    for row in labels.itertuples():
        assert len(row.completions) >= 3  # helper docstring, helper end, target docstring, whole program
        # every rollout answer has one good and one bad sample: each prefix label is exactly 0.5
        assert list(row.soft_labels[:-1]) == [0.5] * (len(row.completions) - 1)
        assert row.soft_labels[-1] == float(verdict[row.candidate_id])

    for variant in ("prm-warmup", "orm", "prm-none", "prm-labels", "prm-weights"):
        assert (project_root / "models" / variant / "final" / "model.safetensors").is_file(), variant

    report = json.loads((project_root / "reports" / "report.json").read_text())
    assert report["n_problems"] == 2  # only the held-out (eval) problems
    assert report["methods"]["oracle"]["pass_at_1"]["estimate"] == 1.0
    assert report["methods"]["random"]["pass_at_1"]["estimate"] == 0.5
    assert "prm-weights:min" in report["methods"] and "orm:last" in report["methods"]

    client = MlflowClient()
    name = get_settings().tracking.registered_model_name
    challenger = client.get_model_version_by_alias(name, "challenger")
    # The first promotion: the challenger becomes champion only if it beat random with the paired lower bound > 0.
    decision = out["evaluate"]["promotion"]
    assert decision["promote"] == (decision["random_diff_low"] > 0), decision
    from dreamprm.registry import alias_version

    assert alias_version(name, "champion") == (challenger.version if decision["promote"] else None), decision
    if not decision["promote"]:
        assert "random bar" in decision["reason"]
    model = mlflow.pyfunc.load_model(f"models:/{name}@challenger")
    prob = policy_server.problems["has_close_elements"]
    scores = model.predict(pd.DataFrame([{"problem": prob["prompt"], "code": prob["prompt"] + prob["canonical_solution"]}]))
    assert 0.0 <= scores["score_last"][0] <= 1.0

    parent = mlflow.get_run(out["mlflow_run_id"])
    children = mlflow.search_runs(experiment_ids=[parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {"fetch", "generate", "execute", "label", "train", "correct", "fuse", "evaluate"} <= \
        set(children["tags.dreamprm.stage"]), set(children["tags.dreamprm.stage"])
    # Every stage that computes from settings and inputs tags its run with its stage identity.
    identified = children[children["tags.dreamprm.stage"].isin(["generate", "label", "train", "correct", "fuse",
                                                                "evaluate"])]
    assert identified["tags.dreamprm.identity"].str.fullmatch(r"[0-9a-f]{16}").all(), identified[
        ["tags.dreamprm.stage", "tags.dreamprm.identity"]]

    # Evaluating on the problems the models were trained on is refused, naming the overlap (exit 2, one line).
    import os
    import subprocess
    import sys

    env = {**os.environ, "DREAMPRM_ROOT": str(project_root)}
    refused = subprocess.run([str(Path(sys.executable).with_name("dreamprm")), "evaluate", "--split", "train"],
                             cwd=project_root, env=env, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "refusing to evaluate on problems a model was trained or corrected on" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr

    # The second run: generations and rollouts come from the content cache -- not one request to the policy.
    before = policy_server.requests
    pipeline_flow(**kwargs)
    assert policy_server.requests == before
    assert pd.read_parquet(data / "step_labels.parquet")["soft_labels"].map(list).tolist() == \
        labels["soft_labels"].map(list).tolist()
