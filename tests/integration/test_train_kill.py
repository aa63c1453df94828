"""`dreamprm train` killed with SIGKILL mid-run resumes from its last checkpoint and ends with the same weights as an
unbroken run (a real process kill, the tiny fixture backbone); after a change of the labels it starts fresh and
says why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def _labels(n: int = 24, flip: bool = False) -> pd.DataFrame:
    rows = []
    for i in range(n):
        good = (i % 2 == 0) != flip
        steps = ["def f(x):\n", "    return x + 1\n" if good else "    return None\n", "print(f(1))\n"]
        rows.append({"candidate_id": f"c{i}", "problem_id": f"p{i % 6}", "prompt": "Add one.",
                     "statement": "Add one.", "starter_code": "", "completions": steps, "split": "train",
                     "soft_labels": [0.8, float(good), float(good)], "labels": [True, good, good],
                     "clean": [False, False, True], "rollout_counts": [4, 4, 0],
                     "rollout_passes": [3, 4 if good else 0, int(good)]})
    return pd.DataFrame(rows)


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "DREAMPRM_ROOT": str(root), "PREFECT_HOME": str(root / ".prefect"),
            "DREAMPRM_PRM__BACKBONE": "tinycoder", "DREAMPRM_PRM__NUM_LAYERS": "0", "DREAMPRM_PRM__FINETUNE": "lora",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}


def _cmd(out: str) -> list[str]:
    return [str(Path(sys.executable).parent / "dreamprm"), "train", "--labels", "labels.parquet", "--output", out,
            "--finetune", "full", "--batch-size", "2", "--grad-accum", "1", "--epochs", "40", "--max-steps", "60",
            "--save-every", "10"]


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "final" / "model.safetensors"))


def test_sigkilled_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    _labels().to_parquet(tmp_path / "labels.parquet")
    env = _env(tmp_path)
    unbroken = subprocess.run(_cmd("unbroken"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert unbroken.returncode == 0, unbroken.stdout[-3000:] + unbroken.stderr[-3000:]
    provenance = json.loads((tmp_path / "unbroken" / "final" / "provenance.json").read_text())
    assert provenance["step_labels"] == {"clean_labels": 24, "outcome_step_labels": 0,
                                         "montecarlo_step_labels": 48, "montecarlo_candidates": 24}

    first = subprocess.Popen(_cmd("out"), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    ckpts = tmp_path / "out" / "checkpoints"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if any(int(p.name.split("-")[1]) >= 20 for p in ckpts.glob("step-*")):
            break
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before it could be killed"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done = sorted(int(p.name.split("-")[1]) for p in ckpts.glob("step-*"))
    assert done and done[-1] < 60 and not (tmp_path / "out" / "final").exists()

    second = subprocess.run(_cmd("out"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] >= done[-1] > 0 and summary["fresh_start_reason"] is None
    a, b = _weights(tmp_path / "unbroken"), _weights(tmp_path / "out")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-6, worst

    # Other labels: the old checkpoints are not resumed; the run starts fresh and says so.
    _labels(flip=True).to_parquet(tmp_path / "labels.parquet")
    (tmp_path / "out" / "final" / "model.safetensors").unlink()  # as after a crash: the stage must run again
    third = subprocess.run(_cmd("out"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 0 and "starting fresh" in summary["fresh_start_reason"]
