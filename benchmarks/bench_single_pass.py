"""Single-pass step scoring against per-prefix scoring (issue 5): same scores, how much faster.

Scores one candidate of ``--steps`` steps (default 10) with the PRM on SmolLM2 truncated to ``--layers`` layers, both
ways, side by side in one process: ``score_steps`` (one forward pass, scores read at the step-end markers) and
``score_prefixes_separately`` (each prefix its own forward pass, as the authors' code does). Reports the median time
and minimum time of each over ``--repeats`` interleaved runs after a warm-up, their ratios, and the largest score difference.

    python benchmarks/bench_single_pass.py                    # SmolLM2-12L, 10 steps, 2 threads
    python benchmarks/bench_single_pass.py --backbone tinycoder --layers 0
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def make_steps(n: int) -> list[str]:
    """A synthetic Chain-of-Function program cut into ``n`` steps (docstring ends and function ends)."""
    steps = ["import sys\n\n"]
    i = 0
    while len(steps) < n:
        steps.append(f'def helper_{i}(values):\n    """Return the running maximum of values, step {i}."""\n')
        if len(steps) < n:
            steps.append(
                "    best = []\n    cur = float('-inf')\n    for v in values:\n"
                f"        cur = max(cur, v + {i})\n        best.append(cur)\n    return best\n\n"
            )
        i += 1
    return steps[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="smollm2")
    ap.add_argument("--layers", type=int, default=12, help="decoder layers kept (0 = all)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()

    from dreamprm.prm import PRMConfig, ProcessRewardModel

    torch.set_num_threads(args.threads)
    cfg = PRMConfig(backbone=args.backbone, num_layers=args.layers or None, finetune="lora")
    prm = ProcessRewardModel.from_config(cfg, cache_dir=args.cache_dir, seed=0)
    problem = "Given a list of integers, print the running maximum after adding each offset. " * 3
    steps = make_steps(args.steps)
    n_tokens = len(prm.encoder.encode(problem, steps))

    prm.score_steps(problem, steps)  # warm-up
    prm.score_prefixes_separately(problem, steps)
    single_t, sep_t = [], []
    for _ in range(args.repeats):  # interleaved, so load on the machine hits both alike
        t0 = time.perf_counter()
        single = prm.score_steps(problem, steps)
        single_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sep = prm.score_prefixes_separately(problem, steps)
        sep_t.append(time.perf_counter() - t0)
    # min over repeats is the least disturbed run on a shared machine; the median is reported as well
    s_med, p_med = statistics.median(single_t), statistics.median(sep_t)
    s_min, p_min = min(single_t), min(sep_t)
    result = {
        "backbone": args.backbone,
        "layers": prm.backbone_config.num_hidden_layers,
        "steps": len(steps),
        "tokens_full_sequence": n_tokens,
        "threads": args.threads,
        "repeats": args.repeats,
        "single_pass_min_s": round(s_min, 4),
        "per_prefix_min_s": round(p_min, 4),
        "ratio_min": round(p_min / s_min, 2),
        "single_pass_median_s": round(s_med, 4),
        "per_prefix_median_s": round(p_med, 4),
        "ratio_median": round(p_med / s_med, 2),
        "max_abs_score_diff": max(abs(a - b) for a, b in zip(single, sep)),
    }
    print(json.dumps(result, indent=2))
    print(
        f"single pass {s_min:.3f}s vs per-prefix {p_min:.3f}s (min of {args.repeats}) at {len(steps)} steps: "
        f"{p_min / s_min:.2f}x faster"
    )


if __name__ == "__main__":
    main()
