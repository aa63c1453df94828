"""Step-count distribution of the recorded candidates (every ``code_list`` entry of every ``*_eval_all.json`` file).

    python benchmarks/step_counts.py [DATA_DIR] [--k 10]

Prints, overall and per folder: how many programs, how many did not parse (split by the regex fallback), how many are
empty, the histogram of step counts (at most K) and of cut candidates before the K limit. With ``--extract`` it also
runs :func:`dreamprm.extract.extract_code` on each ``output_list`` entry and reports the rules used and how often the
result equals the recorded ``code_list`` entry (after stripping surrounding whitespace).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path

from dreamprm.extract import extract_code
from dreamprm.steps import DEFAULT_MAX_STEPS, split_steps


def _as_list(value):
    return json.loads(value) if isinstance(value, str) else value


def _hist(counter: Counter, width: int = 40) -> str:
    total = sum(counter.values()) or 1
    peak = max(counter.values(), default=1)
    rows = []
    for key in sorted(counter):
        n = counter[key]
        rows.append(f"  {key:>4}: {n:>6} ({100 * n / total:5.1f}%) {'#' * max(1, round(width * n / peak))}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default="../shared/data")
    parser.add_argument("--k", type=int, default=DEFAULT_MAX_STEPS)
    parser.add_argument("--extract", action="store_true", help="also check extraction against output_list")
    args = parser.parse_args()

    files = sorted(Path(args.data_dir).rglob("*_eval_all.json"))
    if not files:
        raise SystemExit(f"no *_eval_all.json files under {args.data_dir}")
    overall_steps: Counter = Counter()
    overall_cands: Counter = Counter()
    overall_rules: Counter = Counter()
    extract_rules: Counter = Counter()
    extract_same = extract_total = 0
    empty = 0
    per_folder: dict[str, Counter] = {}
    t0 = time.perf_counter()
    for path in files:
        folder = str(path.parent.relative_to(args.data_dir))
        fstats = per_folder.setdefault(folder, Counter())
        for row in json.loads(path.read_text()):
            codes = _as_list(row.get("code_list")) or []
            outputs = _as_list(row.get("output_list")) or []
            for i, code in enumerate(codes):
                code = code or ""
                if not code.strip():
                    empty += 1
                    fstats["empty"] += 1
                split = split_steps(code, k=args.k)
                overall_steps[len(split)] += 1
                overall_cands[min(split.num_candidates, 30)] += 1
                overall_rules[split.rule] += 1
                fstats["programs"] += 1
                fstats[f"rule_{split.rule}"] += 1
                fstats["steps_total"] += len(split)
                fstats["at_k"] += len(split) == args.k
                fstats["one_step"] += len(split) == 1
                if args.extract and i < len(outputs):
                    r = extract_code(outputs[i])
                    extract_rules[r.rule] += 1
                    extract_total += 1
                    extract_same += r.code.strip() == code.strip()
    elapsed = time.perf_counter() - t0
    n = sum(overall_steps.values())
    mean = sum(k * v for k, v in overall_steps.items()) / n
    median = statistics.median([k for k, v in overall_steps.items() for _ in range(v)])
    print(f"{len(files)} files, {n} programs, split in {elapsed:.1f}s (k={args.k})")
    print(f"parsed (ast rule): {overall_rules['ast']}   did not parse (regex rule): {overall_rules['regex']}   "
          f"empty code: {empty}")
    print(f"steps per program: mean {mean:.2f}, median {median}")
    print("steps per program (after the K limit):")
    print(_hist(overall_steps))
    print("cut candidates per program before the K limit (30 = 30 or more):")
    print(_hist(overall_cands))
    print("per folder: programs, no-parse, empty, mean steps, share with 1 step, share at K")
    for folder, s in sorted(per_folder.items()):
        p = s["programs"]
        print(f"  {folder:<45} {p:>6} {s['rule_regex']:>5} {s['empty']:>5} {s['steps_total'] / p:6.2f} "
              f"{100 * s['one_step'] / p:5.1f}% {100 * s['at_k'] / p:5.1f}%")
    if args.extract:
        print(f"extraction on output_list: {extract_same}/{extract_total} equal to the recorded code_list entry; "
              f"rules: {dict(extract_rules)}")


if __name__ == "__main__":
    main()
