"""The Prefect flow: a repeat is a cache hit (the tables are not rebuilt), a changed input file invalidates, MLflow
run logged. How much faster the cached repeat is gets measured by benchmarks/bench_fetch_cache.py, not asserted here
(a wall-clock ratio depends on the machine's load). Slow (the ephemeral Prefect API starts in-process): `-m slow`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dreamprm.data.fetch import FetchConfig

pytestmark = pytest.mark.slow


def test_flow_cache_and_invalidation(tmp_path: Path, project_root: Path, lcb_dir: Path):
    from flows.fetch import fetch_flow
    from tests.data.test_recorded import make_recorded

    rec = make_recorded(tmp_path / "rec")
    cfg = FetchConfig(release="release_v6", lcb_dir=lcb_dir, recorded=[rec], humaneval=False,
                      out_dir=tmp_path / "out")
    s1 = fetch_flow(cfg)
    assert s1["validation"]["success"] and (tmp_path / "out" / "problems.parquet").is_file()
    s2 = fetch_flow(cfg)
    assert s2["data_hash"] == s1["data_hash"]
    f = lcb_dir / "test6.jsonl"  # a changed file invalidates the cache
    f.write_text(f.read_text().replace("Add two numbers (abc390_c)", "Add two numbers, changed"))
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))
    s3 = fetch_flow(cfg)
    assert s3["data_hash"] != s1["data_hash"]
    import mlflow

    runs = mlflow.search_runs(experiment_names=["dreamprm-code"])
    assert len(runs) == 2 and set(runs["metrics.validation_success"]) == {1.0}


def test_edited_fetch_code_is_a_cache_miss(tmp_path: Path, project_root: Path, lcb_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch):
    """DVC reruns fetch when dreamprm/data changes; the rerun must rebuild the tables, not return the cached ones."""
    from dreamprm import identity
    from dreamprm.data import fetch as F
    from flows.fetch import fetch_flow

    cfg = FetchConfig(release="release_v6", lcb_dir=lcb_dir, humaneval=False, out_dir=tmp_path / "out")
    builds: list[int] = []
    real_build = F.build
    monkeypatch.setattr(F, "build", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    fetch_flow(cfg, log_mlflow=False)
    fetch_flow(cfg, log_mlflow=False)
    assert len(builds) == 1  # the repeat is a cache hit
    monkeypatch.setattr(identity, "code_version", lambda stage: "edited-parser")  # as after editing dreamprm/data
    fetch_flow(cfg, log_mlflow=False)
    assert len(builds) == 2


@pytest.mark.shared_data
def test_shared_import_repeat_is_a_cache_hit(shared_data: Path, project_root: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch):
    from dreamprm.data import fetch as F
    from flows.fetch import fetch_flow

    builds: list[int] = []
    real_build = F.build
    monkeypatch.setattr(F, "build", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    cfg = FetchConfig(recorded=[shared_data], out_dir=tmp_path / "out")
    s1 = fetch_flow(cfg)
    s2 = fetch_flow(cfg)
    assert builds == [1]  # the repeat read the cached tables
    assert s2["data_hash"] == s1["data_hash"]
    assert s1["problems_by_source"]["livecodebench"] == 1055
    assert (s1["lcb_codegeneration_candidates"], s1["lcb_codegeneration_passing"]) == (14370, 3729)
