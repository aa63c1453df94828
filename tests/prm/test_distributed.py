"""Training forwards through the accelerate-prepared model: two CPU processes (gloo, launched by torchrun) keep
identical replicas, and they match one process trained on the same global batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_train_worker.py")
REPO = Path(__file__).resolve().parents[2]


def _run(n: int, out: Path, cache: Path, *extra: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", "--master_addr=127.0.0.1",
           f"--master_port={29500 + n + os.getpid() % 1000}", str(WORKER), str(out), str(cache), *extra]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _run(1, tmp_path / "one", cache)
    _run(2, tmp_path / "two", cache)
    one = torch.load(tmp_path / "one" / "weights-0.pt")
    r0, r1 = torch.load(tmp_path / "two" / "weights-0.pt"), torch.load(tmp_path / "two" / "weights-1.pt")
    for k in one:
        assert torch.equal(r0[k], r1[k]), f"replicas differ at {k}"
        assert torch.allclose(r0[k], one[k], atol=1e-5, rtol=0), (k, float((r0[k] - one[k]).abs().max()))
    # Training moved the weights (lr 1e-2, 3 steps), so the equality is not that of untouched models.
    from dreamprm.prm.model import PRMConfig, ProcessRewardModel

    init = ProcessRewardModel.from_config(PRMConfig(backbone="tinycoder", num_layers=None, finetune="full",
                                                    max_length=128), cache_dir=cache, seed=0).state_dict()
    assert any(not torch.allclose(init[k], one[k]) for k in one if k in init)


@pytest.mark.slow
def test_ranked_two_processes_match_one_accumulating_their_batches(tmp_path: Path) -> None:
    """A ranking objective gives each process whole batches (whole problems) in turn: 2 processes with grad_accum 1
    step on the batches 1 process with grad_accum 2 accumulates, and reach its weights (learning rate schedule
    included)."""
    cache = tmp_path / "cache"
    _run(1, tmp_path / "one", cache, "pairwise", "2")
    _run(2, tmp_path / "two", cache, "pairwise", "1")
    one = torch.load(tmp_path / "one" / "weights-0.pt")
    r0, r1 = torch.load(tmp_path / "two" / "weights-0.pt"), torch.load(tmp_path / "two" / "weights-1.pt")
    for k in one:
        assert torch.equal(r0[k], r1[k]), f"replicas differ at {k}"
        assert torch.allclose(r0[k], one[k], atol=1e-5, rtol=0), (k, float((r0[k] - one[k]).abs().max()))
