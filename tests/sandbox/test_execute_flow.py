"""`dreamprm execute` end to end (CLI -> Prefect flow -> Docker pool -> executions table + MLflow run)."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_execute_flow_on_humaneval(project_root, docker_client, monkeypatch):
    # the ephemeral Prefect API server can take long to come up on a loaded 2-core machine
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from typer.testing import CliRunner

    from dreamprm.cli import app
    from dreamprm.data.humaneval import humaneval_path, load_humaneval

    problems = load_humaneval().head(3)
    with gzip.open(humaneval_path(), "rt") as f:
        raw = {r["task_id"]: r for r in map(json.loads, f)}
    cands = []
    for pid in problems["problem_id"]:
        r = raw[pid]
        cands.append({"candidate_id": f"{pid}-ok", "problem_id": pid, "code": r["prompt"] + r["canonical_solution"]})
    pid0 = problems["problem_id"].iloc[0]
    cands.append({"candidate_id": "broken-wrong", "problem_id": pid0,
                  "code": raw[pid0]["prompt"] + "    return None\n"})
    cands.append({"candidate_id": "broken-syntax", "problem_id": pid0, "code": "def f(:\n"})
    problems.to_parquet(project_root / "problems.parquet")
    pd.DataFrame(cands).to_parquet(project_root / "candidates.parquet")

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    def execute_flow_runs() -> list:
        with get_client(sync_client=True) as client:
            return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["execute"])))

    # The Prefect database may hold other execute runs (other tests', or an earlier session's on a reused machine).
    before = {r.id for r in execute_flow_runs()}
    res = CliRunner().invoke(app, ["execute", "--candidates", "candidates.parquet", "--problems", "problems.parquet",
                                   "--output", "executions.parquet", "--backend", "docker", "--workers", "2"])
    assert res.exit_code == 0, res.output
    ex = pd.read_parquet(project_root / "executions.parquet").set_index("candidate_id")
    assert list(ex.index) == [c["candidate_id"] for c in cands]
    for pid in problems["problem_id"]:
        assert ex.loc[f"{pid}-ok", "verdict"] == "passed"
    assert ex.loc["broken-wrong", "verdict"] == "wrong_answer"
    assert ex.loc["broken-syntax", "verdict"] == "syntax_error"
    assert set(ex["backend"]) == {"docker"}

    import mlflow

    runs = mlflow.search_runs(search_all_experiments=True)
    runs = runs[runs["params.backend"] == "docker"]
    assert len(runs) == 1
    m = runs.iloc[0]
    assert m["metrics.candidates"] == 5 and m["metrics.verdict_passed"] == 3
    assert m["metrics.verdict_wrong_answer"] == 1 and m["metrics.verdict_syntax_error"] == 1
    assert m["metrics.candidates_per_s"] > 0 and m["metrics.tests_per_s"] > 0

    flow_runs = [r for r in execute_flow_runs() if r.id not in before]
    ours = [r for r in flow_runs if r.parameters.get("candidates_path") == "candidates.parquet"]
    assert len(ours) == 1, [r.parameters for r in flow_runs]
    assert ours[0].state.is_completed()
    params = ours[0].parameters
    assert params["backend"] == "docker"
    json.dumps(params)  # only serialisable parameters
