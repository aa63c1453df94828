"""Choose the PRM's training objective on the LiveCodeBench validation window, never on the test set.

Run inside the `make eval-lcb` project folder (after its train, label and window steps; `make eval-lcb-tune` does
this): for each grid point it trains a warm-up PRM on the same train-side labels and cached trunk features into
its own models folder (``DREAMPRM_PATHS__MODELS_DIR``), evaluates it on the window (``data-window/``, no promotion)
and reads the report. It prints one table (pass@1 of the PRM alone and of the example-filter hybrid per aggregation,
within-problem AUC overall and among the example survivors) and writes ``reports-tune/choice.json`` with the grid
point and aggregation whose hybrid pass@1 is highest on the window (ties: higher within-survivor AUC, then the
simpler objective). The trunk features are cached, so a grid point costs a head training and a window scoring.

    python benchmarks/lcb_window_grid.py --grid pointwise:0 pairwise:0.5 pairwise:1 listwise:0.5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

AGGREGATIONS = ("min", "last", "mean")


def run(cmd: list[str], env: dict[str, str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", nargs="+", default=["pointwise:0", "pairwise:0.5", "pairwise:1", "listwise:0.5"],
                    help="objective:rank_weight points")
    ap.add_argument("--train-args", default="--epochs 4 --lr 1e-3 --batch-size 16 --grad-accum 1",
                    help="the other `dreamprm train` options (the same for every point)")
    ap.add_argument("--out", type=Path, default=Path("reports-tune"))
    args = ap.parse_args()
    dreamprm = str(Path(sys.executable).with_name("dreamprm"))
    rows = []
    for point in args.grid:
        objective, weight = point.split(":")
        name = f"{objective}-{weight}"
        env = {**os.environ, "DREAMPRM_PATHS__MODELS_DIR": str(Path("models-tune") / name)}
        run([dreamprm, "train", *args.train_args.split(), "--objective", objective, "--rank-weight", weight], env)
        run([dreamprm, "evaluate", "--problems", "data-window/problems.parquet",
             "--candidates", "data-window/candidates.parquet", "--executions", "data-window/executions.parquet",
             "--output", str(args.out / name), "--challenger", "none", "--resamples", "2000"], env)
        report = json.loads((args.out / name / "report.json").read_text())
        methods, ranking = report["methods"], report["ranking"]
        among = report.get("ranking_survivors", {})
        for agg in AGGREGATIONS:
            m = f"prm-warmup:{agg}"
            rows.append({"objective": objective, "rank_weight": float(weight), "aggregation": agg,
                         "pass_at_1": methods[m]["pass_at_1"]["estimate"],
                         "hybrid_pass_at_1": methods[f"filter:{m}"]["pass_at_1"]["estimate"],
                         "within_auc": ranking[m]["within_problem_auc"],
                         "within_survivor_auc": among.get(m, {}).get("within_problem_auc"),
                         "filter_random": methods["filter:random"]["pass_at_1"]["estimate"],
                         "random": methods["random"]["pass_at_1"]["estimate"]})
    simple = {"pointwise": 0, "pairwise": 1, "listwise": 2}
    best = max(rows, key=lambda r: (r["hybrid_pass_at_1"], r["within_survivor_auc"] or 0.0,
                                    -simple.get(r["objective"], 9), -r["rank_weight"]))
    print("\n| objective | rank weight | aggregation | PRM alone | filter + PRM | within-problem AUC | "
          "within-survivor AUC |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['objective']} | {r['rank_weight']} | {r['aggregation']} | {100 * r['pass_at_1']:.1f} | "
              f"{100 * r['hybrid_pass_at_1']:.1f} | {r['within_auc']:.3f} | "
              f"{(r['within_survivor_auc'] or float('nan')):.3f} |")
    print(f"\nwindow: random {100 * rows[0]['random']:.1f}, filter:random {100 * rows[0]['filter_random']:.1f}")
    print(f"chosen: {best['objective']} rank weight {best['rank_weight']}, aggregation {best['aggregation']}")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / ".choice.json.tmp"
    tmp.write_text(json.dumps({"chosen": best, "grid": rows, "train_args": args.train_args}, indent=2))
    tmp.replace(args.out / "choice.json")


if __name__ == "__main__":
    main()
