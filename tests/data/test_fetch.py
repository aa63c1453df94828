from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dreamprm.cli import app
from dreamprm.data.fetch import FetchConfig, run_fetch
from dreamprm.data.schema import CANDIDATE_COLUMNS, PROBLEM_COLUMNS
from dreamprm.errors import InputDataError
from tests.data.test_recorded import make_recorded

MBPP_LINE = {"task_id": "MbppEval/2", "prompt": "def f(x):\n    '''double'''\n", "entry_point": "f",
             "canonical_solution": "    return 2*x\n", "test": "def check(candidate):\n    assert candidate(2) == 4\n"}


def test_run_fetch_all_sources(tmp_path: Path, lcb_dir: Path):
    mbpp = tmp_path / "mbpp.jsonl"
    mbpp.write_text(json.dumps(MBPP_LINE) + "\n")
    cfg = FetchConfig(release="release_v6", lcb_dir=lcb_dir, mbpp=mbpp, recorded=[make_recorded(tmp_path / "r")],
                      out_dir=tmp_path / "out", cutoff="2024-08-01")
    res = run_fetch(cfg)
    p = pd.read_parquet(tmp_path / "out" / "problems.parquet")
    c = pd.read_parquet(tmp_path / "out" / "candidates.parquet")
    assert list(p.columns) == list(PROBLEM_COLUMNS) and list(c.columns) == list(CANDIDATE_COLUMNS)
    s = res.summary
    assert s["problems_by_source"] == {"humaneval": 164, "livecodebench": 10, "mbpp": 1}
    assert s["candidates"] == 6 and s["validation"]["success"]
    lcb = p[p["source"] == "livecodebench"].set_index("problem_id")
    assert lcb.loc["abc370_c", "split"] in ("train", "meta") and lcb.loc["abc380_c", "split"] == "eval"
    assert lcb.loc["abc100_a", "has_tests"] and not lcb.loc["q1", "has_tests"]
    # The manifest is written with the tables and agrees with the problems' split column.
    from dreamprm.data.split import SplitManifest

    manifest = SplitManifest.load(tmp_path / "out" / "split_manifest.json")
    assert manifest.sides == dict(zip(p["problem_id"], p["split"]))
    counts = manifest.counts()
    assert sum(counts.values()) == len(p) and all(counts[s] > 0 for s in ("train", "meta", "eval"))
    he = p[p["source"] == "humaneval"]
    assert he["has_tests"].all() and (he["test_type"] == "assert").all()
    assert json.loads((tmp_path / "out" / "fetch_summary.json").read_text())["data_hash"] == s["data_hash"]


def test_date_window_drops_problems_and_their_candidates(tmp_path: Path):
    cfg = FetchConfig(recorded=[make_recorded(tmp_path / "r")], humaneval=False, since="2025-01-01",
                      out_dir=tmp_path / "out")
    res = run_fetch(cfg)
    assert set(res.problems["problem_id"]) == {"q1", "q2"}
    assert set(res.candidates["problem_id"]) == {"q1", "q2"}


def test_bad_input_leaves_no_output(tmp_path: Path, lcb_dir: Path):
    with (lcb_dir / "test2.jsonl").open("a") as fh:
        fh.write('{"question_id": "broken", "question_con\n')
    out = tmp_path / "out"
    with pytest.raises(InputDataError) as e:
        run_fetch(FetchConfig(release="release_v6", lcb_dir=lcb_dir, out_dir=out))
    assert "test2.jsonl" in str(e.value) and "line 2" in str(e.value)
    assert not out.exists() or not any(out.iterdir())


def test_cli_no_flow_and_exit_code_2(tmp_path: Path, lcb_dir: Path, project_root: Path):
    runner = CliRunner()
    out = tmp_path / "out"
    r = runner.invoke(app, ["fetch", "--no-flow", "--lcb-dir", str(lcb_dir), "--release", "release_v3",
                            "--no-humaneval", "--out-dir", str(out)])
    assert r.exit_code == 0, r.output
    assert "problems" in r.output and "passed" in r.output
    assert len(pd.read_parquet(out / "problems.parquet")) == 4
    bad = runner.invoke(app, ["fetch", "--no-flow", "--release", "release_v9", "--out-dir", str(tmp_path / "o2")])
    assert bad.exit_code == 2 and "release_v9" in bad.output and "release_v6" in bad.output
    assert not (tmp_path / "o2").exists()
    missing = runner.invoke(app, ["fetch", "--no-flow", "--recorded", str(tmp_path / "nope"),
                                  "--out-dir", str(tmp_path / "o3")])
    assert missing.exit_code == 2 and "nope" in missing.output
    assert not (tmp_path / "o3").exists()


def test_exclude_recorded_leaves_out_the_problems_of_another_set(tmp_path: Path):
    """The validation window's rule: the problems a recorded folder answers (the test set) are left out, with their
    candidates, whichever source brought them; the summary counts them."""
    from dreamprm.data.recorded import recorded_problem_ids

    rec = make_recorded(tmp_path / "r")
    fork = rec / "fork"  # answers q1 and q2
    assert recorded_problem_ids([fork]) == {"q1", "q2"}
    res = run_fetch(FetchConfig(recorded=[rec / "real"], exclude_recorded=[fork], humaneval=False,
                                out_dir=tmp_path / "out"))
    assert set(res.problems["problem_id"]) == {"q3"} and set(res.candidates["problem_id"]) == {"q3"}
    assert res.summary["problems_excluded"] == 1  # q1 (q2 was not loaded from real/)
    whole = run_fetch(FetchConfig(recorded=[rec / "real"], humaneval=False, out_dir=tmp_path / "all"))
    assert whole.summary["candidates_left_out_with_their_problem"] == 0
    left = res.summary["candidates_left_out_with_their_problem"]
    assert left == len(whole.candidates) - len(res.candidates) and left > 0  # q1's, counted
    with pytest.raises(InputDataError, match="exclude_recorded"):
        FetchConfig(recorded=[rec], exclude_recorded=[tmp_path / "nope"], humaneval=False).check()
