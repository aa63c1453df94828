"""Run by tests/prm/test_distributed.py under ``torchrun``: the real train_prm on the tiny model with a fixed global
batch (or, for a ranking objective, whole-problem batches per process); every process saves its replica's weights
(rank-suffixed) so the test can compare them. Arguments: out_dir, model cache, [objective, grad_accum]."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import torch


def rows() -> pd.DataFrame:
    out = []
    for i in range(16):
        steps = ["def f(x):\n", f"    y = x + {i}\n", "    return y\n"]  # three steps each: equal weight per example
        out.append({"candidate_id": f"c{i}", "problem_id": f"p{i % 4}", "prompt": "Add.", "statement": "Add.",
                    "starter_code": "", "completions": steps, "soft_labels": [0.5, (i % 3) / 2, float(i % 2)],
                    "clean": [False, False, True]})
    return pd.DataFrame(out)


def ranked_rows() -> pd.DataFrame:
    """Four problems of four candidates, two passing in each: every batch (one whole problem) has a ranking term."""
    out = rows()
    out["problem_id"] = [f"p{i // 4}" for i in range(len(out))]
    return out


def main(out_dir: str, cache: str, objective: str = "pointwise", grad_accum: str = "1") -> None:
    from dreamprm.prm.model import PRMConfig, ProcessRewardModel
    from dreamprm.prm.train import TrainConfig, train_prm

    torch.set_num_threads(1)
    prm = ProcessRewardModel.from_config(PRMConfig(backbone="tinycoder", num_layers=None, finetune="full",
                                                   max_length=128), cache_dir=cache, seed=0)
    cfg = TrainConfig(batch_size=4, grad_accum=int(grad_accum), max_steps=3, lr=1e-2, head_lr=1e-2,
                      warmup_ratio=0.0, save_every=100, eval_every=100, objective=objective)  # type: ignore[arg-type]
    data = rows() if objective == "pointwise" else ranked_rows()
    train_prm(prm, data, None, cfg, Path(out_dir) / "run", resume=False)
    rank = int(os.environ.get("RANK", "0"))
    torch.save({k: v.detach().cpu() for k, v in prm.state_dict().items()}, Path(out_dir) / f"weights-{rank}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
