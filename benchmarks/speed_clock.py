"""Which clock should rank survivors by speed: the same probes run twice, ``consensus>speed`` on each clock.

``filter:consensus>speed`` breaks consensus ties by the survivors' total probe time (:mod:`dreamprm.evaluate.consensus`).
Measured in wall-clock seconds, that order moved when the same probes ran a second time (window: 53.0 then 52.0),
because wall time counts the time a program waited for one of the machine's cores while the other sandbox worker
ran. Harness version 7 records both clocks for every test (``time_s`` and ``cpu_s``), so two probe runs of the same
survivors give, side by side and from the same executions:

- per clock and run, pass@1 of ``filter:consensus>speed`` (and ``filter:consensus``, which no clock touches);
- per clock, how many problems' picks are the same in both runs (what "re-running reproduces the numbers" needs);
- per clock, the Spearman correlation between the runs of the survivors' total probe seconds (complete runs), and
  among pairs of survivors of one problem tied on consensus, the share whose speed order flips between the runs
  and the share whose speed-bin order (factors of 2, ``consensus>speedbin>m``) changes.

Run inside a project folder after two probe runs into different caches, e.g. on the window (runs/lcb-v6):

    dreamprm execute --candidates data-window/candidates.parquet --problems data-window/problems.parquet \\
        --tests probes --survivors-of data-window/executions.parquet --output data-window/probes.parquet
    DREAMPRM_PATHS__CACHE_DIR=$PWD/.cache-rerun dreamprm execute ... --output data-window/probes-rerun.parquet
    python benchmarks/speed_clock.py --candidates data-window/candidates.parquet \\
        --problems data-window/problems.parquet --executions data-window/executions.parquet \\
        --probes data-window/probes.parquet data-window/probes-rerun.parquet --out reports-tune/speed-clock-window.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from dreamprm.data.split import problems_on_sides
from dreamprm.evaluate.consensus import (
    CONSENSUS_COLUMN,
    SPEED_CLOCKS,
    add_consensus_scores,
    consensus_scores,
    probe_outputs,
    probe_seconds,
    speed_bins,
)
from dreamprm.evaluate.scoring import evaluation_frame, first_per_problem
from dreamprm.evaluate.select import CandidateTable
from dreamprm.io import read_parquet, write_json

METHODS = ("filter:random", "filter:consensus", "filter:consensus>speed", "oracle")


def _selection(frame: pd.DataFrame, outputs: dict, seconds: dict) -> tuple[dict[str, float], pd.Series]:
    """pass@1 (%) of METHODS and the per-problem pick of filter:consensus>speed, on one probe run and clock."""
    scored = add_consensus_scores(frame, outputs, None, "mean", seconds)
    methods = {"consensus": (CONSENSUS_COLUMN, "mean"), "consensus>speed": (f"{CONSENSUS_COLUMN}>speed", "mean")}
    table = CandidateTable.from_frame(scored, methods)
    values = table.per_problem(list(METHODS))
    return ({m: round(100 * float(values[m].mean()), 2) for m in METHODS},
            table.picked_ids(["filter:consensus>speed"])["filter:consensus>speed"])


def _flip_share(frame: pd.DataFrame, outputs: dict, first: dict, second: dict) -> dict:
    """Among pairs of complete survivors of one problem with equal consensus (the pairs speed decides): how many,
    the share whose order by seconds differs between the two runs, and the share whose order by speed bin
    (factors of 2 of the fastest, ``consensus>speedbin>m``: faster bin, same bin, slower bin) differs."""
    cons = consensus_scores(frame, outputs)
    pool = frame[cons.notna()]
    bins = (speed_bins(pool, first), speed_bins(pool, second))
    flips = bin_flips = pairs = 0
    for _, rows in pool.groupby("problem_id", sort=False):
        ids = rows["candidate_id"].astype(str).tolist()
        for a, b in itertools.combinations(range(len(ids)), 2):
            x, y = ids[a], ids[b]
            if cons[rows.index[a]] != cons[rows.index[b]]:
                continue
            times = (first.get(x), first.get(y), second.get(x), second.get(y))
            if any(t is None or not np.isfinite(t) for t in times):
                continue
            pairs += 1
            flips += (times[0] < times[1]) != (times[2] < times[3])
            i, j = rows.index[a], rows.index[b]
            bin_flips += np.sign(bins[0][i] - bins[0][j]) != np.sign(bins[1][i] - bins[1][j])
    share = (lambda k: round(k / pairs, 4) if pairs else float("nan"))
    return {"tied_pairs": pairs, "tied_pairs_flipped": share(flips), "tied_pairs_bin_order_changed": share(bin_flips)}


def compare(frame: pd.DataFrame, runs: list[pd.DataFrame], paths: list[str]) -> dict:
    """Every figure of the module docstring, for each clock, from the probe tables of two runs."""
    outputs = [probe_outputs(t, p) for t, p in zip(runs, paths)]
    result: dict = {"n_problems": int(frame["problem_id"].nunique())}
    for clock in SPEED_CLOCKS:
        seconds = [probe_seconds(t, p, clock) for t, p in zip(runs, paths)]
        passes, picks = zip(*(_selection(frame, o, s) for o, s in zip(outputs, seconds)))
        common = [c for c in seconds[0] if c in seconds[1] and np.isfinite(seconds[0][c])
                  and np.isfinite(seconds[1][c])]
        rho = spearmanr([seconds[0][c] for c in common], [seconds[1][c] for c in common]).statistic
        result[clock] = {"pass_at_1": list(passes), "same_pick": int((picks[0] == picks[1]).sum()),
                         "spearman_seconds": round(float(rho), 4), "n_complete_survivors": len(common),
                         **_flip_share(frame, outputs[0], seconds[0], seconds[1])}
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidates", required=True)
    ap.add_argument("--problems", required=True)
    ap.add_argument("--executions", required=True, help="the candidates' runs on their statement examples")
    ap.add_argument("--probes", required=True, nargs=2, help="two probe tables of the same survivors (harness 7)")
    ap.add_argument("--split", default="eval")
    ap.add_argument("--per-problem", type=int, default=0, help="the first N candidates of each problem (0: all)")
    ap.add_argument("--out", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    problems, _, _ = problems_on_sides(read_parquet(args.problems), args.problems, args.split, "eval")
    candidates = read_parquet(args.candidates)
    candidates = candidates[candidates["problem_id"].isin(problems["problem_id"])]
    if args.per_problem:
        candidates = first_per_problem(candidates, args.per_problem)
    frame = evaluation_frame(problems, candidates, read_parquet(args.executions))
    result = {"probes": args.probes, "per_problem": args.per_problem,
              **compare(frame, [read_parquet(p) for p in args.probes], args.probes)}
    for clock in SPEED_CLOCKS:
        r = result[clock]
        print(f"{clock:>5}: consensus>speed pass@1 {r['pass_at_1'][0]['filter:consensus>speed']:.1f} / "
              f"{r['pass_at_1'][1]['filter:consensus>speed']:.1f}; same pick in {r['same_pick']} of "
              f"{result['n_problems']} problems; Spearman of seconds {r['spearman_seconds']:.3f} "
              f"({r['n_complete_survivors']} survivors); {100 * r['tied_pairs_flipped']:.1f}% of "
              f"{r['tied_pairs']} consensus-tied pairs flip, {100 * r['tied_pairs_bin_order_changed']:.1f}% change "
              "speed-bin order")
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
