"""`dreamprm train` killed with SIGKILL mid-run resumes from its last checkpoint (a real process kill, the tiny
fixture backbone)."""

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

REPO = Path(__file__).resolve().parents[2]


def _labels(n: int = 24) -> pd.DataFrame:
    rows = []
    for i in range(n):
        good = i % 2 == 0
        steps = ["def f(x):\n", "    return x + 1\n" if good else "    return None\n", "print(f(1))\n"]
        rows.append({"candidate_id": f"c{i}", "problem_id": f"p{i % 6}", "prompt": "Add one.", "statement": "Add one.", "starter_code": "", "completions": steps,
                     "soft_labels": [0.8, float(good), float(good)], "clean": [False, False, True]})
    return pd.DataFrame(rows)


def test_sigkilled_training_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    _labels().to_parquet(tmp_path / "labels.parquet")
    env = {**os.environ, "DREAMPRM_ROOT": str(tmp_path), "PREFECT_HOME": str(tmp_path / ".prefect"),
           "DREAMPRM_PRM__BACKBONE": "tinycoder", "DREAMPRM_PRM__NUM_LAYERS": "0"}
    cmd = [str(Path(sys.executable).parent / "dreamprm"), "train", "--labels", "labels.parquet", "--output", "out",
           "--finetune", "full", "--batch-size", "2", "--grad-accum", "1", "--epochs", "400", "--max-steps", "3000",
           "--save-every", "5"]
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    ckpts = tmp_path / "out" / "checkpoints"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if len(list(ckpts.glob("step-*"))) >= 1:
            break
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before it could be killed"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done = sorted(int(p.name.split("-")[1]) for p in ckpts.glob("step-*"))
    assert done and not (tmp_path / "out" / "final").exists()

    cmd[cmd.index("3000")] = str(done[-1] + 10)  # finish quickly after resuming
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] >= done[-1] and summary["steps"] == done[-1] + 10
    assert (tmp_path / "out" / "final" / "model.safetensors").exists()
