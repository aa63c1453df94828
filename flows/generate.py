"""The generate stage as a Prefect flow: N Chain-of-Function candidates per problem from the configured policy."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from dreamprm.generation import GenerateConfig
from flows._common import progress_reporter, settings


@task(cache_policy=NO_CACHE)
def generate_task(problems_path: str, out_path: str, config: GenerateConfig, source: str | None, limit: int,
                  split: str | None) -> dict[str, Any]:
    from dreamprm.stages.generate import run_generate

    return run_generate(problems_path, out_path, config, source, limit, split,
                        progress=progress_reporter("generate-progress", "generating candidates"))


@flow(name="generate", log_prints=True)
def generate_flow(problems_path: str | None = None, out_path: str | None = None, n: int = 4,
                  temperature: float = 0.2, max_tokens: int = 512, style: str = "cof", source: str | None = None,
                  limit: int = 0, split: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Generate candidates for the problems table; writes the generated-candidates table (default
    data/generated.parquet) and logs counts and the share of multi-function (CoF) programs to MLflow."""
    s = settings()
    problems_path = problems_path or str(s.data_dir / "problems.parquet")
    out_path = out_path or str(s.data_dir / "generated.parquet")
    cfg = GenerateConfig(n=n, temperature=temperature, max_tokens=max_tokens, style=style, seed=seed)
    summary = generate_task(problems_path, out_path, cfg, source, limit, split)
    create_markdown_artifact(
        key="generate-summary",
        markdown="\n".join(["| metric | value |", "| --- | --- |"]
                           + [f"| {k} | {v} |" for k, v in summary.items() if k != "extract_rules"]),
        description="generate stage")
    return summary
