"""Consensus variants side by side on one probe run: with and without the wide probes, by whole-output digest or by
the 4,096 kept characters.

Harness version 6 records, for every probe, the sha256 of the whole normalized output (``stdout_sha256``); before,
consensus compared the first 4,096 characters the sandbox keeps, so two long outputs (a probe grown to 20,000 items
often prints more) that differ only after them agreed. The wide probes (values widened to the statement's value
bound, :func:`dreamprm.data.probes.wide_probes`) come last in every probe run, so dropping each problem's last
records gives the run without them. This runs `dreamprm evaluate --execution-only` once per variant on the same
executions and probe table:

- ``all``: as recorded (8 mutated + 2 grown + 2 wide probes, digests);
- ``no-wide``: the wide probes' records dropped;
- ``no-wide, kept text``: also the digests dropped (the comparison of harness version 5);

and prints pass@1 of the execution selectors of each (consensus ties broken by the earliest sample, and by speed:
``filter:consensus>speed``), plus how many compared survivors' probe outputs were longer
than what is kept and how many probe pairs the digest separates that the kept text did not.

Run inside a project folder (e.g. runs/lcb-v6 after `make eval-lcb-consensus-val` or the probe steps of
`make eval-lcb`):

    python benchmarks/consensus_ablation.py --candidates data-train/val60-candidates.parquet \\
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

from dreamprm.execution import ExecuteConfig, problem_tests
from dreamprm.io import read_parquet, write_parquet

METHODS = ("random", "filter:random", "filter:first", "filter:consensus", "filter:consensus>speed", "oracle")


def without_digests(probes: pd.DataFrame) -> pd.DataFrame:
    """The probe table as harness version 5 wrote it: the per-test records without ``stdout_sha256``."""
    out = probes.copy()
    out["per_test"] = [json.dumps([{k: v for k, v in r.items() if k != "stdout_sha256"} for r in json.loads(raw)])
                       for raw in probes["per_test"]]
    return out


def without_wide(probes: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """The probe table as a run without wide probes would have written it: each row cut to its problem's mutated
    and grown probes (rebuilt with the execute defaults and no wide probe; they come first in every run)."""
    cfg = ExecuteConfig()
    by_id = {str(p["problem_id"]): p for p in problems.to_dict("records")}
    keep = {pid: len(problem_tests(by_id[pid], "probes", cfg.probes, cfg.grown_probes, 0))
            for pid in set(probes["problem_id"].astype(str))}
    out = probes.copy()
    ks = [keep[str(pid)] for pid in probes["problem_id"]]
    out["per_test"] = [json.dumps(json.loads(raw)[:k]) for raw, k in zip(probes["per_test"], ks)]
    out["num_tests"] = [min(int(n), k) for n, k in zip(probes["num_tests"], ks)]
    # The counts and the verdict as that shorter run would have had them: a run that stopped at a wide probe
    # passed every probe that is kept (so evaluate's check of the table on read holds: counts within num_tests).
    out["num_passed"] = [min(int(n), k) for n, k in zip(probes["num_passed"], out["num_tests"])]
    out["public_tests"] = [min(int(n), k) for n, k in zip(probes["public_tests"], out["num_tests"])]
    reached_all = out["num_passed"] >= out["num_tests"]
    out["verdict"] = out["verdict"].where(~reached_all, "passed")
    out["passed"] = out["verdict"] == "passed"
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
    no_wide = without_wide(probes, read_parquet(args.problems))
    variants = {"all": probes, "no-wide": no_wide, "no-wide, kept text": without_digests(no_wide)}
    reports = {}
    for i, (name, table) in enumerate(variants.items()):
        path = args.probes if i == 0 else str(Path(args.probes).with_name(f"{Path(args.probes).stem}-v{i}.parquet"))
        if i:
            write_parquet(table, path)
        reports[name] = evaluate(args, path, args.out if i == 0 else f"{args.out}-v{i}")
    print(json.dumps(truncation_counts(probes, survivors)))
    print(f"{'method':>24} " + " ".join(f"{name:>20}" for name in variants))
    for m in METHODS:
        print(f"{m:>24} " + " ".join(f"{100 * r['methods'][m]['pass_at_1']['estimate']:20.1f}"
                                     for r in reports.values()))
    for name, report in reports.items():
        d = report["differences"]["filter:consensus - filter:random"]
        print(f"{name}: filter:consensus - filter:random {100 * d['estimate']:+.1f} "
              f"[{100 * d['low']:.1f}, {100 * d['high']:.1f}]; within-survivor AUC "
              f"{report['ranking_survivors'].get('consensus')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
