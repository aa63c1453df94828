"""Best-of-N scoring throughput on real LiveCodeBench candidates: batches in arrival order against the length-grouped
batches :meth:`ProcessRewardModel.score_batch` forms, side by side in one run, with the scores checked equal.

Candidates are recorded programs for the 175 release_v6 problems (../shared/data), each with its problem statement,
cut into steps as the evaluation stage cuts them. "arrival order" hands the model one batch at a time (what the
evaluation stage did before: padding to the longest of 8 random lengths); "length-grouped" hands it every item at once.

    .venv/bin/python benchmarks/bench_scoring.py --n 96 --layers 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def items(n: int, seed: int) -> list[tuple[str, list[str]]]:
    from dreamprm.data.recorded import import_recorded
    from dreamprm.settings import get_settings
    from dreamprm.steps import split_steps

    folder = get_settings().shared_data_dir / "lcb_fork_gu-ni_n10_generations" / "output_test6"
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found: this benchmark reads the recorded release_v6 generations there")
    rec = import_recorded([folder])
    statements = rec.problems.set_index("problem_id")["statement"]
    cands = rec.candidates[rec.candidates["code"].str.strip() != ""].sample(n=n, random_state=seed)
    return [(str(statements[p]), split_steps(str(c)).steps or [str(c)]) for p, c in zip(cands["problem_id"], cands["code"])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=96, help="candidates scored by each method")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from dreamprm.prm.model import PRMConfig, ProcessRewardModel

    work = items(args.n, args.seed)
    prm = ProcessRewardModel.from_config(PRMConfig(num_layers=args.layers), seed=args.seed)
    prm.score_batch(work[: args.batch_size], batch_size=args.batch_size, too_long="none")  # warm-up

    t0 = time.perf_counter()
    arrival: list = []
    for start in range(0, len(work), args.batch_size):
        arrival += prm.score_batch(work[start : start + args.batch_size], batch_size=args.batch_size, too_long="none")
    t_arrival = time.perf_counter() - t0
    t0 = time.perf_counter()
    grouped = prm.score_batch(work, batch_size=args.batch_size, too_long="none")
    t_grouped = time.perf_counter() - t0

    diff = max((abs(a - b) for x, y in zip(arrival, grouped) if x is not None for a, b in zip(x, y)), default=0.0)
    print(json.dumps({
        "candidates": len(work), "layers": args.layers, "batch_size": args.batch_size, "threads": torch.get_num_threads(),
        "unscored_too_long": sum(x is None for x in grouped),
        "arrival_order_per_s": round(len(work) / t_arrival, 2), "length_grouped_per_s": round(len(work) / t_grouped, 2),
        "speedup": round(t_arrival / t_grouped, 2), "max_score_difference": diff,
    }, indent=1))
    if diff > 1e-4:
        raise SystemExit(f"length-grouped scores differ from arrival-order scores by {diff}")


if __name__ == "__main__":
    main()
