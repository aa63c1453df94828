"""PRM modes side by side on real LiveCodeBench candidates: scoring candidates/s with and without the shared problem
prefix, and training examples/s (warm-up) and iterations/s (bi-level correction) for LoRA over the whole backbone
(full forwards) against the frozen trunk (``head``) on cached features, with the one-off feature extraction timed.

Candidates are recorded programs for the 175 release_v6 problems (../shared/data/lcb_fork_gu-ni_n10_generations),
``--per-problem`` candidates of each of ``--problems`` problems (those with two or more functions first, so the
correction has noisy steps: 85% of recorded programs are one function), each with its statement and starter code as
:class:`dreamprm.prm.template.PRMInput` builds them. Labels are the official verdicts on every step
(:func:`dreamprm.labeling.outcome_step_labels`): the workload's shape is the real one, the labels are outcome labels.
The last quarter of the problems is the correction's meta side. Every figure comes from this one run, on this
machine's load; the scores of both scoring paths are checked equal (1e-4).

    .venv/bin/python benchmarks/bench_modes.py                      # SmolLM2, 4 layers: a few minutes
    .venv/bin/python benchmarks/bench_modes.py --backbone qwen2.5-coder-0.5b --num-layers 12
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def workload(n_problems: int, per_problem: int, seed: int):
    """(problems, candidates, step-label rows with a train/meta side) of real recorded candidates."""
    import pandas as pd

    from dreamprm.data.recorded import import_recorded
    from dreamprm.labeling import outcome_step_labels
    from dreamprm.settings import get_settings
    from dreamprm.steps import split_steps

    folder = get_settings().shared_data_dir / "lcb_fork_gu-ni_n10_generations" / "output_test6"
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found: this benchmark reads the recorded release_v6 generations there "
                         "(../shared/data beside the repo)")
    rec = import_recorded([folder])
    cands = rec.candidates[rec.candidates["code"].str.strip() != ""].copy()
    cands["multi"] = [len(split_steps(str(c)).steps) >= 2 for c in cands["code"]]
    problems = rec.problems.sample(frac=1.0, random_state=seed)["problem_id"].tolist()[:n_problems]
    picked = [cands[cands["problem_id"] == p].sample(frac=1.0, random_state=seed)
              .sort_values("multi", ascending=False, kind="stable").head(per_problem) for p in problems]
    chosen = pd.concat(picked)
    verdicts = {str(c): bool(ok) for c, ok in zip(chosen["candidate_id"], chosen["official_passed"])}
    rows = outcome_step_labels(rec.problems, chosen, verdicts)
    meta = set(problems[-max(1, n_problems // 4):])
    rows["split"] = ["meta" if p in meta else "train" for p in rows["problem_id"]]
    return rec.problems, chosen, rows


def prm_items(problems, cands) -> list:
    """Each candidate as the PRM input its problem gives it (statement, starter code, the code)."""
    from dreamprm.prm.template import PRMInput

    by_id = problems.set_index("problem_id")
    return [PRMInput.from_problem(by_id.loc[p].to_dict() | {"problem_id": p}, code=str(c))
            for p, c in zip(cands["problem_id"], cands["code"])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="smollm2", help="model spec (dreamprm/models/registry.py) or HF path")
    ap.add_argument("--num-layers", type=int, default=4)
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--per-problem", type=int, default=4, help="candidates per problem (they share its prefix)")
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=4, help="scoring and extraction batch")
    ap.add_argument("--train-batch", type=int, default=2)
    ap.add_argument("--lora-steps", type=int, default=2, help="LoRA warm-up optimiser steps (full forwards)")
    ap.add_argument("--head-steps", type=int, default=200, help="head warm-up steps on cached features")
    ap.add_argument("--lora-iterations", type=int, default=1, help="LoRA bi-level iterations")
    ap.add_argument("--head-iterations", type=int, default=1000, help="head bi-level iterations on cached features")
    ap.add_argument("--repeats", type=int, default=2, help="scoring rounds (alternated; the best is reported)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from dreamprm.prm.correct import CorrectConfig, correct_prm
    from dreamprm.prm.model import PRMConfig, ProcessRewardModel, prefix_groups
    from dreamprm.prm.train import TrainConfig, train_prm

    problems, cands, rows = workload(args.problems, args.per_problem, args.seed)
    items = prm_items(problems, cands)
    out: dict[str, object] = {"backbone": args.backbone, "num_layers": args.num_layers, "threads": torch.get_num_threads(),
                              "load_avg_1m_at_start": round(os.getloadavg()[0], 2), "problems": args.problems,
                              "candidates": len(items), "max_length": args.max_length}

    def build(finetune: str) -> ProcessRewardModel:
        t0 = time.perf_counter()
        cfg = PRMConfig(backbone=args.backbone, num_layers=args.num_layers or None, finetune=finetune,
                        max_length=args.max_length)
        prm = ProcessRewardModel.from_config(cfg, seed=args.seed)
        out.setdefault("load_seconds", round(time.perf_counter() - t0, 1))
        return prm

    head = build("head")
    enc = [head.encoder.encode(x) for x in items]
    out["mean_tokens"] = round(sum(map(len, enc)) / len(enc), 1)
    out["mean_prefix_tokens"] = round(sum(e.prefix_length for e in enc) / len(enc), 1)
    out["mean_steps"] = round(sum(e.num_steps for e in enc) / len(enc), 2)

    # Scoring: the same model and items, with and without the shared prefix, alternated; the best of the repeats
    # (other jobs on a shared machine only ever slow a run down).
    head.score_batch(items[:2], batch_size=2)  # warm-up
    timed: dict[bool, float] = {False: float("inf"), True: float("inf")}
    scores: dict[bool, list] = {}
    for _ in range(args.repeats):
        for share in (False, True):
            t0 = time.perf_counter()
            scores[share] = head.score_batch(items, batch_size=args.batch_size, share_prefix=share, too_long="none")
            timed[share] = min(timed[share], time.perf_counter() - t0)
    out["shared_groups"] = len(prefix_groups(enc))
    out["candidates_in_shared_groups"] = sum(map(len, prefix_groups(enc)))
    diff = max((abs(a - b) for x, y in zip(scores[False], scores[True]) if x for a, b in zip(x, y)), default=0.0)
    out["scoring"] = {"unshared_per_s": round(len(items) / timed[False], 3),
                      "shared_prefix_per_s": round(len(items) / timed[True], 3),
                      "speedup": round(timed[False] / timed[True], 2), "max_score_difference": diff}

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        train = TrainConfig(epochs=1000, batch_size=args.train_batch, grad_accum=1, save_every=10**6,
                            eval_every=10**6, seed=args.seed, lr=1e-4, head_lr=1e-3)
        # Warm-up. head: the first run extracts the features (timed in its summary), the examples/s are the steps'.
        keys = ("steps", "examples_seen", "examples_per_s", "train_seconds", "peak_rss_mb")
        s_head = train_prm(head, rows, None, TrainConfig(**{**train.__dict__, "max_steps": args.head_steps}),
                           tmp_path / "head", resume=False, feature_dir=tmp_path / "features")
        lora = build("lora")
        s_lora = train_prm(lora, rows, None, TrainConfig(**{**train.__dict__, "max_steps": args.lora_steps}),
                           tmp_path / "lora", resume=False)
        out["train"] = {
            "lora_full_forward": {k: s_lora.get(k) for k in keys},
            "head_cached_features": {k: s_head.get(k) for k in keys},
            "feature_extraction": {"inputs": s_head.get("features_computed"),
                                   "seconds": round(float(s_head.get("features_seconds", 0.0)), 1),
                                   "per_s": round(s_head["features_computed"] / s_head["features_seconds"], 3)},
            "examples_per_s_ratio": round(s_head["examples_per_s"] / s_lora["examples_per_s"], 1),
        }
        # Bi-level correction (weights mode): the hypergradient differentiates through one virtual step.
        corr = {"mode": "weights", "batch_size": args.train_batch, "meta_batch_size": args.train_batch,
                "seed": args.seed}

        def iterations_per_s(prm: ProcessRewardModel, n: int, **kw: object) -> tuple[float, dict]:
            """From the first to the last iteration (encoding and feature loading excluded); one iteration: all."""
            ticks: list[float] = []
            t0 = time.perf_counter()
            summary, _ = correct_prm(prm, rows, CorrectConfig(iterations=n, **corr),
                                     progress=lambda i, total: ticks.append(time.perf_counter()), **kw)
            rate = (n - 1) / (ticks[-1] - ticks[0]) if n > 1 else 1 / (ticks[-1] - t0)
            return rate, summary

        lora_rate, _ = iterations_per_s(lora, args.lora_iterations)
        head_rate, c_head = iterations_per_s(head, args.head_iterations, feature_dir=tmp_path / "features")
        out["correct"] = {"noisy_samples": c_head["noisy_samples"], "meta_candidates": c_head["meta_candidates"],
                          "lora_iterations_per_s": round(lora_rate, 4), "head_iterations_per_s": round(head_rate, 1),
                          "head_features_from_cache": c_head.get("features_computed") == 0,
                          "ratio": round(head_rate / lora_rate)}
    out["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))
    if diff > 1e-4:
        raise SystemExit(f"shared-prefix scores differ from unshared scores by {diff}")


if __name__ == "__main__":
    main()
