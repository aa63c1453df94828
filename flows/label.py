"""The label stage as a Prefect flow: Monte-Carlo step labels from policy rollouts executed in the sandbox, or
(``method="outcome"``) each candidate's final verdict propagated to its steps, for recorded candidates whose policy
cannot be run here."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows._common import progress_reporter, settings


@task(cache_policy=NO_CACHE)
def label_task(problems_path: str, candidates_path: str, executions_path: str | None, out_path: str,
               config_dict: dict[str, Any], limit: int, method: str = "montecarlo",
               split: str | None = None, per_problem: int = 0, montecarlo: int = 0,
               rollout_tests: str | None = None, policies_of: str | None = None,
               per_policy: int = 0) -> dict[str, Any]:
    """Resumable without a Prefect cache: rollouts and executions are cached by content hash inside the stage."""
    from dreamprm.stages.label import run_label

    summary = run_label(problems_path, candidates_path, executions_path, out_path, config_dict, limit, method,
                        split, progress=progress_reporter("label-progress", "Monte-Carlo labeling"),
                        per_problem=per_problem, montecarlo=montecarlo, rollout_tests=rollout_tests,
                        policies_of=policies_of, per_policy=per_policy)
    create_markdown_artifact(key="label-summary", description="label stage", markdown="\n".join(
        ["| metric | value |", "| --- | --- |"]
        + [f"| {k} | {v:.4g} |" for k, v in summary.items() if isinstance(v, (int, float))]))
    return summary


@flow(name="label", log_prints=True)
def label_flow(problems_path: str | None = None, candidates_path: str | None = None,
               executions_path: str | None = None, out_path: str | None = None, rollouts: int = 16,
               temperature: float = 0.3, max_tokens: int = 1024, max_steps: int = 10, limit: int = 0,
               method: str = "montecarlo", split: str | None = None, per_problem: int = 0, montecarlo: int = 0,
               rollout_tests: str | None = None, policies_of: str | None = None,
               per_policy: int = 0) -> dict[str, Any]:
    """Monte-Carlo step labels (paper: 16 rollouts per prefix at temperature 0.3) for the generated candidates;
    resumable: rollouts and executions are cached by content hash. ``method="outcome"``: the final verdict on every
    step, no policy and no sandbox (recorded candidates). ``per_problem`` > 0: at most that many candidates of each
    problem, whole problems in turn (a within-problem objective needs several per problem). ``montecarlo`` > 0 with
    ``method="outcome"``: that many train-side multi-step candidates Monte-Carlo labelled by the local policy, judged
    on ``rollout_tests``. ``policies_of``: a candidates table; only its policies' candidates are labelled, at most
    ``per_policy`` samples of each per problem (0 = all)."""
    s = settings()
    problems_path = problems_path or str(s.data_dir / "problems.parquet")
    from dreamprm.data.schema import default_candidates_path

    candidates_path = candidates_path or str(default_candidates_path(s.data_dir))
    executions_path = executions_path or str(s.data_dir / "executions.parquet")
    out_path = out_path or str(s.data_dir / "step_labels.parquet")
    cfg = {"rollouts": rollouts, "temperature": temperature, "max_tokens": max_tokens, "max_steps": max_steps}
    return label_task(problems_path, candidates_path, executions_path, out_path, cfg, limit, method, split,
                      per_problem, montecarlo, rollout_tests, policies_of, per_policy)
