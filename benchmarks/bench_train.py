"""Warm-up training throughput on real LiveCodeBench candidates (issue 5): examples/s and peak memory.

Takes recorded candidates of training-split problems (dated on or before ``--cutoff``) from ../shared/data, turns
each into a step-label row with the function-as-step splitter, and trains the PRM (SmolLM2 truncated to ``--layers``
layers, LoRA) for ``--steps`` optimiser steps with :func:`dreamprm.prm.train.train_prm`, the code path of
``dreamprm train``. These candidates have official verdicts but no Monte-Carlo step labels (those need rollouts from
the policy that wrote them), so every step carries the final verdict: the workload's shape (statement + code, 1024
tokens at most, all steps scored in one pass) is the real one; the labels are outcome labels
(:func:`dreamprm.labeling.outcome_step_labels`, as ``dreamprm label --method outcome`` writes them).

    .venv/bin/python benchmarks/bench_train.py --rows 64 --steps 8
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def step_rows(n_rows: int, cutoff: str, seed: int):
    from dreamprm.data.recorded import import_recorded
    from dreamprm.data.split import assign_split
    from dreamprm.labeling import outcome_step_labels
    from dreamprm.settings import get_settings

    shared = get_settings().shared_data_dir
    folder = shared / "lcb_v6_generations_xiangww0108"
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found: this benchmark reads the recorded LiveCodeBench generations there")
    rec = import_recorded([folder])
    problems = assign_split(rec.problems, cutoff)
    train_ids = set(problems.loc[problems["split"] == "train", "problem_id"])
    cands = rec.candidates[rec.candidates["problem_id"].isin(train_ids) & (rec.candidates["code"].str.strip() != "")]
    cands = cands.sample(n=min(n_rows, len(cands)), random_state=seed)
    verdicts = {str(c): bool(ok) for c, ok in zip(cands["candidate_id"], cands["official_passed"])}
    return outcome_step_labels(problems, cands, verdicts), len(train_ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=64, help="training candidates sampled")
    ap.add_argument("--steps", type=int, default=8, help="optimiser steps")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--grad-accum", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--cutoff", default="2024-08-01")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from dreamprm.prm.model import PRMConfig, ProcessRewardModel
    from dreamprm.prm.train import TrainConfig, train_prm

    rows, n_problems = step_rows(args.rows, args.cutoff, args.seed)
    prm = ProcessRewardModel.from_config(PRMConfig(num_layers=args.layers, max_length=args.max_length), seed=args.seed)
    cfg = TrainConfig(epochs=1, batch_size=args.batch_size, grad_accum=args.grad_accum, max_steps=args.steps,
                      save_every=10_000, eval_every=10_000, seed=args.seed)
    with tempfile.TemporaryDirectory() as out:
        summary = train_prm(prm, rows, None, cfg, out, resume=False)
    keys = ("steps", "examples_seen", "examples_per_s", "train_seconds", "peak_rss_mb", "train_loss")
    print(json.dumps({"train_problems": n_problems, "rows": len(rows),
                      "mean_steps": round(float(rows["completions"].map(len).mean()), 2),
                      "params": prm.parameter_counts(), "layers": args.layers, "max_length": args.max_length,
                      **{k: summary.get(k) for k in keys}}, indent=1))


if __name__ == "__main__":
    main()
