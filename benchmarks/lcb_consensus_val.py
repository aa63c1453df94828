"""Consensus selection at N=60 on training-side problems no model has seen (`make eval-lcb-consensus-val`).

The validation window has 5 candidates per problem, too few to tell how the survivors' agreement on probe inputs
ranks them at N=60. The train side has 157 Codeforces problems with 60 candidates of the test set's six policies;
those not among the labelled candidates (data/step_labels.parquet: what the PRMs, the ORM and the fusion trained
on) are a second validation set, at the test's N. Run inside the eval-lcb project folder, after its label step:

1. data-train/val60-candidates.parquet: the unseen problems' candidates (written atomically);
2. their runs on the statement examples, then the survivors' runs on the probe inputs (sandbox, cached);
3. `dreamprm evaluate --execution-only --probes ...` into reports-consensus-val/ (no model: consensus, the example
   filter and its variants, the generator prior from the other train-side problems' verdicts, random, oracle) at
   N=60 and at the test's N=6 (sample 0 of each model, per-problem-6/), and the pass@1 table and the
   filter:consensus - filter:random interval printed;
4. with ``--models``, the same evaluation with the saved models that saw none of these problems as well (a model
   trained on the ranked models' own code, models/prm-own, has seen them and is left out, by name), into
   reports-consensus-val-models/: the survivors and each problem's first 6 candidates scored
   (``--hybrid-only-above 6``), so the consensus methods whose ties a model breaks (``filter:consensus>m``,
   ``filter:consensus>speedbin>m``) are validated at N=60 too, and each model alone at N=6, beside the generator
   prior, on the test's six models.

The speed keys read the programs' CPU seconds by default (``dreamprm evaluate --speed-clock``); ``--speed-clock
wall`` ranks them by wall-clock seconds and writes into <out>-wall/ (and <out>-wall-models/) instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from dreamprm.evaluate.consensus import SPEED_CLOCK, SPEED_CLOCKS
from dreamprm.io import read_parquet, write_parquet


def unseen_problem_candidates(candidates: pd.DataFrame, labels: pd.DataFrame, at_least: int) -> pd.DataFrame:
    """Candidates of the problems with ``at_least`` or more candidates that no labelled candidate belongs to."""
    sizes = candidates.groupby("problem_id")["candidate_id"].transform("size")
    seen = set(labels["problem_id"].astype(str))
    return candidates[(sizes >= at_least) & ~candidates["problem_id"].astype(str).isin(seen)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--at-least", type=int, default=60, help="candidates per problem (the test set's N)")
    ap.add_argument("--out", default="reports-consensus-val")
    ap.add_argument("--models", action="store_true",
                    help="also evaluate with the saved models (their scores break the consensus ties)")
    ap.add_argument("--speed-clock", choices=sorted(SPEED_CLOCKS), default=SPEED_CLOCK,
                    help=f"the clock the speed keys read (docs/lcb-best-of-n.md, sections 14 and 16; default "
                         f"{SPEED_CLOCK}); another clock writes into <out>-<clock>")
    args = ap.parse_args(argv)
    if args.speed_clock != SPEED_CLOCK:
        args.out = f"{args.out}-{args.speed_clock}"
    dreamprm = str(Path(sys.executable).parent / "dreamprm")
    subset = unseen_problem_candidates(read_parquet("data-train/candidates.parquet"),
                                       read_parquet("data/step_labels.parquet"), args.at_least)
    write_parquet(subset, "data-train/val60-candidates.parquet")
    print(f"{subset['problem_id'].nunique()} unseen problems, {len(subset)} candidates", flush=True)
    side = ["--candidates", "data-train/val60-candidates.parquet", "--problems", "data-train/problems.parquet"]
    for cmd in (
        [dreamprm, "execute", *side, "--tests", "public", "--output", "data-train/executions-val60.parquet",
         "--no-track"],
        [dreamprm, "execute", *side, "--tests", "probes", "--survivors-of", "data-train/executions-val60.parquet",
         "--output", "data-train/probes-val60.parquet", "--no-track"],
        [dreamprm, "evaluate", *side, "--executions", "data-train/executions-val60.parquet", "--execution-only",
         "--split", "train,meta", "--challenger", "none", "--probes", "data-train/probes-val60.parquet",
         "--speed-clock", args.speed_clock, "--output", args.out, "--per-problem", "0,6",
         "--prior-from", "data-train/candidates.parquet"],
    ):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    report = json.loads((Path(args.out) / "report.json").read_text())
    for m in ("random", "prior", "filter:random", "filter:first", "filter:consensus", "filter:consensus>speed",
              "oracle"):
        print(f"{m:>24}: {100 * report['methods'][m]['pass_at_1']['estimate']:.1f}")
    d = report["differences"]["filter:consensus - filter:random"]
    print(f"filter:consensus - filter:random: {100 * d['estimate']:+.1f} [{100 * d['low']:.1f}, {100 * d['high']:.1f}]")
    print("within-survivor AUC of consensus:", report["ranking_survivors"]["consensus"])
    if args.models:
        from dreamprm.stages.evaluate import discover_scorers, scorers_unseen_by

        from dreamprm.settings import get_settings

        usable, left_out = scorers_unseen_by(discover_scorers(get_settings().models_dir),
                                             set(subset["problem_id"].astype(str)))
        if left_out:
            print(f"left out (trained on validation problems): {', '.join(left_out)}")
        if not usable:
            raise SystemExit("no saved model that has not seen the validation problems")
        out = f"{args.out}-models"
        subprocess.run([dreamprm, "evaluate", *side, "--executions", "data-train/executions-val60.parquet",
                        "--scorers", ",".join(usable),
                        "--split", "train,meta", "--challenger", "none", "--hybrid-only-above", "6",
                        "--probes", "data-train/probes-val60.parquet", "--speed-clock", args.speed_clock,
                        "--output", out, "--per-problem", "0,6", "--prior-from", "data-train/candidates.parquet"],
                       check=True, stdout=subprocess.DEVNULL)
        methods = json.loads((Path(out) / "report.json").read_text())["methods"]
        for m in sorted(m for m in methods if m.startswith("filter:consensus")):
            print(f"{m:>40}: {100 * methods[m]['pass_at_1']['estimate']:.1f}")
        at6 = json.loads((Path(out) / "per-problem-6" / "report.json").read_text())
        print("N=6, each model alone beside the generator prior:")
        for m in ("random", "prior", *sorted(m for m in at6["methods"] if m.endswith(":mean")), "oracle"):
            d = at6["differences"].get(f"{m} - random")
            gap = f"  vs random {100 * d['estimate']:+.1f} [{100 * d['low']:.1f}, {100 * d['high']:.1f}]" if d else ""
            print(f"{m:>40}: {100 * at6['methods'][m]['pass_at_1']['estimate']:.1f}{gap}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
