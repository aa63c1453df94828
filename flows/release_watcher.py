"""The release watcher: a scheduled flow that triggers the pipeline only when LiveCodeBench has a new release.

With a Prefect server and the `pipeline/pipeline` deployment it starts a deployment run (visible in the UI);
in ephemeral mode it runs the pipeline flow in-process. The last release seen is recorded in
``data/release_state.json`` only after the trigger succeeded (idempotent: a second check on the same data
triggers nothing).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows._common import settings

PIPELINE_DEPLOYMENT = "pipeline/pipeline"


def _trigger(parameters: dict[str, Any], in_process: bool) -> dict[str, Any]:
    if not in_process:
        from prefect.deployments import run_deployment

        run = run_deployment(PIPELINE_DEPLOYMENT, parameters=parameters, timeout=0)
        return {"flow_run_id": str(run.id), "deployment": PIPELINE_DEPLOYMENT}
    from flows.pipeline import pipeline_flow

    pipeline_flow(**parameters)
    return {"in_process": True}


@flow(name="release-watcher", log_prints=True)
def release_watcher_flow(lcb_dir: str | None = None, state_path: str | None = None,
                         in_process: bool | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Check the hub (or ``lcb_dir``) for a new LiveCodeBench release; if there is one, trigger the pipeline for
    the new window and record it."""
    from dreamprm.releases import compare, load_state, observe_hub, observe_local, record_state

    log = get_run_logger()
    s = settings()
    folder = lcb_dir or (str(s.livecodebench.local_dir) if s.livecodebench.local_dir else None)
    state_path = state_path or str(s.data_dir / "release_state.json")
    snapshot = observe_local(folder) if folder else observe_hub(s.livecodebench.hub_repo, s.livecodebench.hub_timeout_s)
    check = compare(load_state(state_path), snapshot)
    log.info("release check: %s", check.reason)
    result: dict[str, Any] = {"new": check.is_new, "reason": check.reason, "since": check.since,
                              "latest_date": snapshot.latest_date, "files": sorted(snapshot.files)}
    if not check.is_new or dry_run:
        return result
    params = {"release": "release_latest", "lcb_dir": folder, "since": check.since, "source": "livecodebench"}
    if in_process is None:
        in_process = s.prefect_api_url is None
    result["triggered"] = _trigger(params, in_process)
    record_state(state_path, snapshot, result["triggered"])
    return result
