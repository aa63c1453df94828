"""Do Monte-Carlo labels from the local policy help? Outcome-only labels against outcome + Monte-Carlo labels, on the
LiveCodeBench validation window, never on the test set.

Run inside the `make eval-lcb` project folder after its fetch, window execute/probe and label steps (`make
eval-lcb-mc-window` does this). The outcome labels are the folder's ``data/step_labels.parquet``; this script writes
the mixed ones beside them (``data/step_labels-mc.parquet``: the same rows, with every eligible train-side candidate
of two or more steps Monte-Carlo labelled by the local policy, judged on the statement's examples). For each label
set it trains the warm-up PRM and the uncorrected bi-level PRM (``correct --mode none``) into its own models folder
(``models-labels/<set>``) with the settings chosen on the window, evaluates both on the window (no promotion,
survivors plus one candidate per problem scored) and prints one table.

The decision rule was fixed before any result (commit 95929b3): the Monte-Carlo labels become the eval-lcb default
only if, on the window, both ``filter:prm-warmup`` and ``filter:consensus>prm-none`` are at least as high with them
as with outcome labels only, and one of the two strictly higher. ``reports-mc/comparison.json`` holds the table, the
label counts of each set and the verdict.

    python benchmarks/lcb_mc_window.py --montecarlo 1000 --rollouts 4 --max-tokens 512
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

TRAIN_SIDE = ["--candidates", "data-train/candidates.parquet", "--problems", "data-train/problems.parquet"]
WINDOW = ["--problems", "data-window/problems.parquet", "--candidates", "data-window/candidates.parquet",
          "--executions", "data-window/executions.parquet", "--probes", "data-window/probes.parquet"]
# The two selectors the pre-registered rule compares (report.json names them with the step aggregation, if any).
RULE_METHODS = ("filter:prm-warmup", "filter:consensus>prm-none")


def run(cmd: list[str], env: dict[str, str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)


def method_key(methods: dict, stem: str, aggregation: str = "mean") -> str:
    """The report's name for selector ``stem``: itself (a selector without step scores) or, for a model, the one
    with the eval-lcb step aggregation, ``stem:<aggregation>``."""
    for key in (stem, f"{stem}:{aggregation}"):
        if key in methods:
            return key
    raise SystemExit(f"report.json has no method {stem} or {stem}:{aggregation} (it has {sorted(methods)})")


def verdict(outcome: dict[str, float], mixed: dict[str, float]) -> bool:
    """The pre-registered rule: every compared selector at least as high with Monte-Carlo labels, one strictly."""
    diffs = [round(mixed[m] - outcome[m], 9) for m in RULE_METHODS]
    return all(d >= 0 for d in diffs) and any(d > 0 for d in diffs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--montecarlo", type=int, default=1000, help="at most this many candidates Monte-Carlo labelled")
    ap.add_argument("--rollouts", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--per-problem", type=int, default=10)
    ap.add_argument("--limit", type=int, default=1200)
    ap.add_argument("--train-args", default="--epochs 4 --lr 1e-3 --batch-size 16 --grad-accum 1 "
                                            "--objective pairwise --rank-weight 0.5",
                    help="`dreamprm train` options (the window-chosen eval-lcb defaults)")
    ap.add_argument("--iterations", default="200", help="`correct --mode none` iterations")
    ap.add_argument("--aggregation", default="mean", help="step aggregation the compared PRM selectors use")
    ap.add_argument("--resamples", default="1000")
    ap.add_argument("--out", type=Path, default=Path("reports-mc"))
    args = ap.parse_args()
    dreamprm = str(Path(sys.executable).with_name("dreamprm"))
    outcome_labels = Path("data/step_labels.parquet")
    if not outcome_labels.exists():
        sys.exit(f"{outcome_labels.resolve()} is missing: run the eval-lcb label step first (`make eval-lcb-execution`)")
    mixed_labels = Path("data/step_labels-mc.parquet")
    run([dreamprm, "label", "--method", "outcome", "--split", "train,meta", *TRAIN_SIDE,
         "--per-problem", str(args.per_problem), "--limit", str(args.limit), "--montecarlo", str(args.montecarlo),
         "--rollout-tests", "public", "--rollouts", str(args.rollouts), "--max-tokens", str(args.max_tokens),
         "--output", str(mixed_labels)], dict(os.environ))
    results: dict[str, dict] = {}
    for name, labels in (("outcome", outcome_labels), ("montecarlo", mixed_labels)):
        env = {**os.environ, "DREAMPRM_PATHS__MODELS_DIR": str(Path("models-labels") / name)}
        run([dreamprm, "train", "--labels", str(labels), *args.train_args.split()], env)
        run([dreamprm, "correct", "--mode", "none", "--labels", str(labels), "--iterations", args.iterations,
             "--no-register"], env)
        out = args.out / name
        run([dreamprm, "evaluate", *WINDOW, "--output", str(out), "--challenger", "none", "--hybrid-only-above", "1",
             "--resamples", args.resamples], env)
        report = json.loads((out / "report.json").read_text())
        provenance = json.loads((Path(env["DREAMPRM_PATHS__MODELS_DIR"]) / "prm-warmup" / "final"
                                 / "provenance.json").read_text())
        methods = report["methods"]
        keys = {stem: method_key(methods, stem, args.aggregation) for stem in ("random", "filter:random", *RULE_METHODS)}
        results[name] = {"pass_at_1": {stem: methods[k]["pass_at_1"]["estimate"] for stem, k in keys.items()},
                         "methods": keys,
                         "step_labels": provenance.get("step_labels"),
                         "ranking_survivors": report.get("ranking_survivors", {})}
    outcome, mixed = (results[k]["pass_at_1"] for k in ("outcome", "montecarlo"))
    adopt = verdict(outcome, mixed)
    print("\n| window selector | outcome labels | + Monte-Carlo labels | difference |\n|---|---|---|---|")
    for m in ("random", "filter:random", *RULE_METHODS):
        print(f"| {m} | {100 * outcome[m]:.1f} | {100 * mixed[m]:.1f} | {100 * (mixed[m] - outcome[m]):+.1f} |")
    for name in results:
        print(f"{name}: {results[name]['step_labels']}")
    print(f"pre-registered rule: {'ADOPT' if adopt else 'keep LCB_MC=0'} the Monte-Carlo labels")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / ".comparison.json.tmp"
    tmp.write_text(json.dumps({"results": results, "rule_methods": list(RULE_METHODS), "adopt": adopt,
                               "settings": vars(args) | {"out": str(args.out)}}, indent=2, default=str))
    tmp.replace(args.out / "comparison.json")


if __name__ == "__main__":
    main()
