"""Consensus compared by whole-output digests against the old comparison of the 4,096 kept characters, side by side.

Harness version 6 records, for every probe, the sha256 of the whole normalized output (``stdout_sha256``); before,
consensus compared the first 4,096 characters the sandbox keeps, so two long outputs (a probe grown to 20,000 items
often prints more) that differ only after them agreed. This runs `dreamprm evaluate --execution-only` twice on the
same executions and probe table, once as recorded and once with the digests removed (the old comparison), and prints
pass@1 of the execution selectors of each, plus how many compared survivors' probe outputs were longer than what is
kept and how many probe pairs the digest separates that the kept text did not.

Run inside a project folder (e.g. runs/lcb-v6 after `make eval-lcb-consensus-val` or the probe steps of
`make eval-lcb`):

    python benchmarks/consensus_digest_ablation.py --candidates data-train/val60-candidates.parquet \\
        --problems data-train/problems.parquet --executions data-train/executions-val60.parquet \\
        --probes data-train/probes-val60.parquet --split train,meta --out reports-digest-val60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

from dreamprm.io import read_parquet, write_parquet

METHODS = ("random", "filter:random", "filter:first", "filter:consensus", "oracle")


def without_digests(probes: pd.DataFrame) -> pd.DataFrame:
    """The probe table as harness version 5 wrote it: the per-test records without ``stdout_sha256``."""
    out = probes.copy()
    out["per_test"] = [json.dumps([{k: v for k, v in r.items() if k != "stdout_sha256"} for r in json.loads(raw)])
                       for raw in probes["per_test"]]
    return out


def truncation_counts(probes: pd.DataFrame, survivors: set[str]) -> dict[str, int]:
    """Among the survivors' completed probe records: how many outputs were longer than what is kept, and per probe
    position, how many pairs of survivors of a problem agree on the kept text but not on the whole output."""
    long_outputs = 0
    split_pairs = 0
    by_problem: dict[str, list[list[dict]]] = {}
    for pid, cid, raw in zip(probes["problem_id"], probes["candidate_id"], probes["per_test"]):
        if str(cid) not in survivors:
            continue
        records = json.loads(raw)
        long_outputs += sum(1 for r in records if r.get("verdict") == "passed" and "...(truncated" in r.get("stdout", ""))
        by_problem.setdefault(str(pid), []).append(records)
    for members in by_problem.values():
        width = max((len(m) for m in members), default=0)
        for j in range(width):
            done = [m[j] for m in members if j < len(m) and m[j].get("verdict") == "passed"]
            by_text = Counter(r.get("stdout", "") for r in done)
            by_both = Counter((r.get("stdout", ""), r.get("stdout_sha256")) for r in done)
            split_pairs += (sum(n * (n - 1) // 2 for n in by_text.values())
                            - sum(n * (n - 1) // 2 for n in by_both.values()))
    return {"long_outputs": long_outputs, "pairs_split_by_digest": split_pairs}


def evaluate(args: argparse.Namespace, probes_path: str, out: str) -> dict:
    dreamprm = str(Path(sys.executable).parent / "dreamprm")
    cmd = [dreamprm, "evaluate", "--candidates", args.candidates, "--problems", args.problems, "--executions",
           args.executions, "--execution-only", "--split", args.split, "--challenger", "none", "--probes",
           probes_path, "--output", out]
    if args.per_problem:
        cmd += ["--per-problem", args.per_problem]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((Path(out) / "report.json").read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidates", required=True)
    ap.add_argument("--problems", required=True)
    ap.add_argument("--executions", required=True)
    ap.add_argument("--probes", required=True, help="a probe table written by harness version 6 or newer")
    ap.add_argument("--split", default="eval")
    ap.add_argument("--per-problem", default="", help="as evaluate's --per-problem (first size goes to --out)")
    ap.add_argument("--out", default="reports-digest")
    args = ap.parse_args(argv)

    probes = read_parquet(args.probes)
    executions = read_parquet(args.executions)
    survivors = set(executions.loc[executions["passed"].astype(bool), "candidate_id"].astype(str))
    kept_path = str(Path(args.probes).with_name(Path(args.probes).stem + "-kept-text.parquet"))
    write_parquet(without_digests(probes), kept_path)
    whole = evaluate(args, args.probes, args.out)
    kept = evaluate(args, kept_path, args.out + "-kept-text")
    print(json.dumps(truncation_counts(probes, survivors)))
    print(f"{'method':>18} {'whole output':>13} {'kept 4,096':>11}")
    for m in METHODS:
        a, b = whole["methods"][m]["pass_at_1"]["estimate"], kept["methods"][m]["pass_at_1"]["estimate"]
        print(f"{m:>18} {100 * a:13.1f} {100 * b:11.1f}")
    for name, report in (("whole output", whole), ("kept 4,096", kept)):
        d = report["differences"]["filter:consensus - filter:random"]
        print(f"{name}: filter:consensus - filter:random {100 * d['estimate']:+.1f} "
              f"[{100 * d['low']:.1f}, {100 * d['high']:.1f}]; within-survivor AUC "
              f"{report['ranking_survivors'].get('consensus')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
