from __future__ import annotations

from pathlib import Path

from dreamprm.tracking import RunIdentity, git_commit, stage_run


def test_runs_share_naming_tags_and_params(project_root: Path) -> None:
    import mlflow

    ident = RunIdentity(stage="fetch", data_version="release_v6", policy="replay", backbone="none", seed=3)
    with stage_run(ident, params={"cutoff": "2024-08-01"}) as run:
        mlflow.log_metric("problems", 10)
    got = mlflow.get_run(run.info.run_id)
    assert got.info.run_name == f"fetch/release_v6/{git_commit()}"
    assert got.data.tags["dreamprm.stage"] == "fetch"
    assert got.data.tags["dreamprm.seed"] == "3"
    assert got.data.params["cutoff"] == "2024-08-01"
    assert set(["stage", "data_version", "policy", "backbone", "seed", "git_commit"]) <= set(got.data.params)
    assert got.data.metrics["problems"] == 10
    assert (project_root / "mlflow.db").is_file()


def test_stage_runs_nest_under_the_pipeline_run(project_root: Path) -> None:
    import mlflow

    from dreamprm.tracking import parent_run

    with parent_run(RunIdentity(stage="pipeline")) as parent:
        parent_id = parent.info.run_id
    # The parent is closed before the stage runs here on purpose: nesting must not rely on MLflow's active-run stack.
    with parent_run(RunIdentity(stage="pipeline")) as parent2:
        with stage_run(RunIdentity(stage="fetch")) as child:
            pass
    assert mlflow.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent2.info.run_id
    assert parent_id != parent2.info.run_id
    with stage_run(RunIdentity(stage="fetch")) as alone:
        pass
    assert "mlflow.parentRunId" not in mlflow.get_run(alone.info.run_id).data.tags
