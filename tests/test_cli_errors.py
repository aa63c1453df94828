"""Expected bad input ends with one clear line and exit code 2, no traceback, even through a Prefect flow; with
``--debug`` the traceback is shown too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DREAMPRM = str(Path(sys.executable).with_name("dreamprm"))


def _run(args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DREAMPRM_ROOT": str(root), "PREFECT_HOME": str(root / ".prefect"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("DREAMPRM_DEBUG", None)
    return subprocess.run([DREAMPRM, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def _without_server_shutdown_noise(out: str) -> str:
    """The output less the records of Prefect's temporary server that a busy machine can add at exit: the server is
    a subprocess writing to the same stderr, and when the command ends it cancels a service that may still be
    flushing events ("Error flushing N events" and the traceback of that CancelledError). Neither the CLI nor its
    filters can reach that process. Only a traceback block right after such a record and ending in CancelledError is
    left out; any other traceback, a flush that failed otherwise included, stays and fails the test."""
    lines, kept, i = out.splitlines(), [], 0
    while i < len(lines):
        flush = "| ERROR   | prefect.server." in lines[i] and "Error flushing" in lines[i]
        kept.append(lines[i])
        i += 1
        while flush and i < len(lines) and lines[i].startswith("Traceback"):
            end = i + 1
            while end < len(lines) and lines[end].startswith(" "):
                end += 1  # the block's frames
            if end == len(lines) or not lines[end].startswith("asyncio.exceptions.CancelledError"):
                break
            i = end + 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("During handling")):
                i += 1  # a chained block of the same record follows
    return "\n".join(kept)


def test_only_the_cancelled_server_flush_is_left_out() -> None:
    noise = ("12:00:00.000 | ERROR   | prefect.server.services.task_run_recorder - Error flushing 1 events\n"
             "Traceback (most recent call last):\n  File \"a.py\", line 1\n"
             "asyncio.exceptions.CancelledError: Cancelled via cancel scope\n\n"
             "During handling of the above exception, another exception occurred:\n\n"
             "Traceback (most recent call last):\n  File \"b.py\", line 2\n"
             "asyncio.exceptions.CancelledError: Cancelled via cancel scope\n")
    ours = "Traceback (most recent call last):\n  File \"cli.py\", line 3\nKeyError: 'x'\n"
    assert "Traceback" not in _without_server_shutdown_noise("error: bad\n" + noise)
    assert "Traceback" in _without_server_shutdown_noise(noise + ours)  # the CLI's own traceback after it
    locked = (noise.split("Traceback")[0]
              + "Traceback (most recent call last):\n  File \"c.py\", line 4\nOperationalError: database is locked\n")
    assert "Traceback" in _without_server_shutdown_noise(locked)  # a flush that failed for another reason


@pytest.fixture
def corrupted_release(tmp_path: Path) -> Path:
    d = tmp_path / "lcb"
    d.mkdir()
    (d / "test.jsonl").write_text('{"question_title": "x", broken\n')
    return d


def test_bad_release_file_through_the_flow_is_one_line_and_exit_2(tmp_path: Path, corrupted_release: Path) -> None:
    res = _run(["fetch", "--release", "release_v1", "--lcb-dir", str(corrupted_release), "--no-humaneval"], tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in _without_server_shutdown_noise(out), out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "test.jsonl, line 1" in errors[0] and "not valid JSON" in errors[0], out
    assert not (tmp_path / "data" / "problems.parquet").exists()  # nothing half-written


def test_debug_shows_the_traceback(tmp_path: Path, corrupted_release: Path) -> None:
    res = _run(["--debug", "fetch", "--release", "release_v1", "--lcb-dir", str(corrupted_release),
                "--no-humaneval", "--no-flow"], tmp_path)
    assert res.returncode == 2
    assert "Traceback" in res.stderr and "error:" in res.stderr


def test_probe_run_never_overwrites_the_verdicts_it_reads(tmp_path: Path) -> None:
    """A probe run's "passed" only means the program finished: writing it over the executions table its survivors
    come from would turn every finished program into a correct one for label and evaluate. Refused, one line."""
    data = tmp_path / "data"
    data.mkdir()
    table = data / "executions.parquet"
    table.write_bytes(b"the verdicts")
    res = _run(["execute", "--tests", "probes", "--survivors-of", str(table), "--output", str(table)], tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "overwrite the executions table" in errors[0] and str(table) in errors[0], out
    assert table.read_bytes() == b"the verdicts"


def test_probe_runs_default_to_their_own_table() -> None:
    from dreamprm.execution import default_output_name

    assert default_output_name("probes") == "probes.parquet"
    assert {default_output_name(t) for t in ("all", "public", "private")} == {"executions.parquet"}


@pytest.mark.parametrize("args, option", [
    (["correct", "--mode", "weight"], "mode"),
    (["train", "--objective", "pairwize"], "objective"),
    (["label", "--method", "outcomes"], "method"),
    (["generate", "--style", "fancy"], "style"),
    (["evaluate", "--aggregation", "median"], "aggregation"),
])
def test_a_bad_option_value_is_one_line_naming_it_before_any_work(tmp_path: Path, args: list[str],
                                                                   option: str) -> None:
    """Each is refused before the stage reads a table, loads a model or starts a policy server (none exists in this
    empty project folder, so reaching them would be another error)."""
    res = _run(args, tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in _without_server_shutdown_noise(out), out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"field '{option}'" in errors[0] and "expected" in errors[0], out
