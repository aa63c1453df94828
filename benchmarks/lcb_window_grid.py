"""Choose the PRM's training objective, its step aggregation and whether to fuse it, on the LiveCodeBench validation
window, never on the test set.

Run inside the `make eval-lcb` project folder after its fetch, execute and label steps (`make eval-lcb-tune` does
this). For each objective:rank-weight point it trains a warm-up PRM on the train-side labels and cached trunk
features into its own models folder (``models-tune/<point>``); for each aggregation it fits the fusion
(:mod:`dreamprm.evaluate.fusion`) on the train side's meta problems (``dreamprm fuse``) and evaluates on the window
(``data-window/``, no promotion), scoring only the example survivors plus one candidate per problem
(``--hybrid-only-above 1``: the choice is between hybrids, which rank survivors). It prints one table (window pass@1
of filter + PRM and of filter + fusion, within-problem AUC among the survivors) and writes
``reports-tune/choice.json`` with the setting whose hybrid pass@1 is highest on the window (ties: higher
within-survivor AUC, then the plain PRM over the fusion, then the simpler objective). The trunk features are cached,
so after the first point a grid point costs a head training and a few window and meta scorings from the cache.

    python benchmarks/lcb_window_grid.py --grid pointwise:0 pairwise:0.5 listwise:0.5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WINDOW = ["--problems", "data-window/problems.parquet", "--candidates", "data-window/candidates.parquet",
          "--executions", "data-window/executions.parquet"]
TRAIN_SIDE = ["--problems", "data-train/problems.parquet", "--candidates", "data-train/candidates.parquet",
              "--executions", "data-train/executions.parquet"]


def run(cmd: list[str], env: dict[str, str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", nargs="+", default=["pointwise:0", "pairwise:0.5", "listwise:0.5"],
                    help="objective:rank_weight points")
    ap.add_argument("--aggregations", nargs="+", default=["mean"],
                    help="step aggregations to try (88%% of the LiveCodeBench train-side candidates are one step, "
                         "so they barely differ)")
    ap.add_argument("--train-args", default="--epochs 4 --lr 1e-3 --batch-size 16 --grad-accum 1",
                    help="the other `dreamprm train` options (the same for every point)")
    ap.add_argument("--l2", default="1.0", help="the fusion's L2 penalty (fixed, not tuned)")
    ap.add_argument("--resamples", default="1000")
    ap.add_argument("--out", type=Path, default=Path("reports-tune"))
    args = ap.parse_args()
    dreamprm = str(Path(sys.executable).with_name("dreamprm"))
    rows = []
    for point in args.grid:
        objective, weight = point.split(":")
        name = f"{objective}-{weight}"
        models = Path("models-tune") / name
        env = {**os.environ, "DREAMPRM_PATHS__MODELS_DIR": str(models)}
        run([dreamprm, "train", *args.train_args.split(), "--objective", objective, "--rank-weight", weight], env)
        for agg in args.aggregations:
            fusion = models / f"fusion-{agg}"
            run([dreamprm, "fuse", *TRAIN_SIDE, "--aggregation", agg, "--l2", args.l2, "--survivors-only",
                 "--output", str(fusion)], env)
            out = args.out / name / agg
            run([dreamprm, "evaluate", *WINDOW, "--output", str(out), "--challenger", "none", "--hybrid-only-above",
                 "1", "--fusion", str(fusion), "--resamples", args.resamples], env)
            report = json.loads((out / "report.json").read_text())
            methods, among = report["methods"], report.get("ranking_survivors", {})
            for selector, method, score in (("prm", f"filter:prm-warmup:{agg}", f"prm-warmup:{agg}"),
                                            ("fusion", "filter:fusion", "fusion")):
                rows.append({"objective": objective, "rank_weight": float(weight), "aggregation": agg,
                             "selector": selector, "method": method,
                             "hybrid_pass_at_1": methods[method]["pass_at_1"]["estimate"],
                             "within_survivor_auc": among.get(score, {}).get("within_problem_auc"),
                             "survivor_problems": among.get(score, {}).get("n_problems_within"),
                             "filter_random": methods["filter:random"]["pass_at_1"]["estimate"],
                             "random": methods["random"]["pass_at_1"]["estimate"],
                             "fusion_coefficients": report.get("fusion", {}).get("coefficients")
                             if selector == "fusion" else None})
    simple = {"pointwise": 0, "pairwise": 1, "listwise": 2}
    best = max(rows, key=lambda r: (round(r["hybrid_pass_at_1"], 9), r["within_survivor_auc"] or 0.0,
                                    r["selector"] == "prm", -simple.get(r["objective"], 9), -r["rank_weight"]))
    print("\n| objective | rank weight | aggregation | selector | window pass@1 | within-survivor AUC (problems) |"
          "\n|---|---|---|---|---|---|")
    for r in rows:
        auc = r["within_survivor_auc"]
        print(f"| {r['objective']} | {r['rank_weight']} | {r['aggregation']} | filter + {r['selector']} | "
              f"{100 * r['hybrid_pass_at_1']:.1f} | {'n/a' if auc is None else f'{auc:.3f}'} "
              f"({r['survivor_problems']}) |")
    print(f"\nwindow: random {100 * rows[0]['random']:.1f}, filter:random {100 * rows[0]['filter_random']:.1f}")
    print(f"chosen: {best['objective']} rank weight {best['rank_weight']}, aggregation {best['aggregation']}, "
          f"filter + {best['selector']}")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / ".choice.json.tmp"
    tmp.write_text(json.dumps({"chosen": best, "grid": rows, "train_args": args.train_args, "l2": args.l2},
                              indent=2))
    tmp.replace(args.out / "choice.json")


if __name__ == "__main__":
    main()
