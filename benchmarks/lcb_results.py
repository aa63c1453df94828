"""The headline table of `make eval-lcb`, read from its reports (its last step; `reports/results.md`).

The README's results table is this file's output: each figure is read from the report that computed it, so a re-run of
`make eval-lcb` shows at once whether it reproduces them, and the table is never copied from them by hand. Run inside
the eval-lcb project folder; it reads

- ``reports/all/report.json``: release_v6 at N=60 (``LCB_SIZES=6,0``'s second size);
- ``reports/report.json``: release_v6 at N=6 (sample 0 of each of the six models);
- ``reports-window/report.json``: the validation window, N=5;

and writes ``reports/results.md`` (atomically) and prints it. A selector a report does not have (a model scored only
for the hybrids at N=60, or not trained in this run) gets a cell that says so; it is never left out of the table.

The rows are fixed here, not chosen from the figures: the baselines, the generator prior, each model alone (the ORM,
the warm-up PRM, the uncorrected PRM, the own-code PRM), the example filter, :data:`ADOPTED_HYBRID` (the hybrid the
validation sets chose, docs/lcb-best-of-n.md section 10), the hybrid adopted before it, the tie-break ceiling of
consensus and the oracle.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dreamprm.errors import InputDataError
from dreamprm.io import atomic_path

# Chosen on the N=60 validation and the window by the rule of docs/lcb-best-of-n.md section 10, before release_v6.
ADOPTED_HYBRID = "filter:consensus>speedbin>prior"
CEILING = "consensus tie-break ceiling"  # not a method: report["consensus"]["tie_break_ceiling"]
ROWS: tuple[tuple[str, str, str], ...] = (  # (label, method, what it needs beyond the candidates)
    ("random (expected)", "random", "nothing"),
    ("first sample", "first", "nothing"),
    ("majority vote on the examples", "majority", "the examples run"),
    ("generator prior", "prior", "train-side verdicts"),
    ("ORM alone (min)", "orm:min", "a model"),
    ("PRM warm-up alone (mean)", "prm-warmup:mean", "a model"),
    ("PRM corrected, none (mean)", "prm-none:mean", "a model"),
    ("PRM trained on the ranked models' own code (mean; only once its validation passes)", "prm-own:mean", "a model"),
    ("example filter, then random", "filter:random", "the examples run"),
    ("example filter, then prior", "filter:prior", "the examples run; train-side verdicts"),
    (f"**{ADOPTED_HYBRID}**, the adopted hybrid", ADOPTED_HYBRID, "probes run; train-side verdicts"),
    ("filter:consensus>speedbin>prm-none (adopted before the prior)", "filter:consensus>speedbin>prm-none",
     "probes run; a model"),
    ("tie-break ceiling of consensus (a perfect tie-breaker)", CEILING, "the hidden verdicts"),
    ("oracle (pass@N)", "oracle", "the hidden verdicts"),
)
# column -> (report, its best-of-N size). `make eval-lcb` writes the first two with LCB_SIZES=6,0.
REPORTS = {"N=60": ("reports/all/report.json", 60), "N=6": ("reports/report.json", 6),
           "window": ("reports-window/report.json", 5)}
# Each column's paired comparison: the example filter at N=60 (the goal's reference), random at N=6 (the PRM-alone
# goal's), the filter on the window.
REFERENCE = {"N=60": "filter:random", "N=6": "random", "window": "filter:random"}
MODEL_REFERENCE = "orm:min"  # a PRM alone is also compared with the ORM (the PRM-alone goal)


def read_report(path: Path, n: int) -> dict[str, Any]:
    """A report.json of `dreamprm evaluate` at best-of-``n``; a missing or unreadable file, or one of another size
    (e.g. `make eval-lcb LCB_SIZES=6` leaves an older reports/all/ behind), is an error naming it."""
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputDataError("no report here", path=path, expected="`make eval-lcb` to have written it") from None
    except ValueError as exc:
        raise InputDataError(f"not JSON ({exc})", path=path, expected="a `dreamprm evaluate` report.json") from exc
    if not isinstance(report, dict) or not isinstance(report.get("methods"), dict):
        raise InputDataError("no methods table", path=path, field="methods",
                             expected="a `dreamprm evaluate` report.json")
    size = (report.get("candidates_per_problem") or {}).get("max")
    if size != n:
        raise InputDataError(f"a best-of-{size} report where best-of-{n} belongs", path=path,
                             field="candidates_per_problem", expected=f"at most {n} candidates per problem")
    return report


def _pct(value: float) -> str:
    return f"{100 * value:.1f}".replace("-0.0", "0.0")


def cell(report: dict[str, Any], method: str, references: list[str]) -> str:
    """'pass@1 [CI]' of ``method`` with its paired differences against ``references`` where the report has them."""
    if method == CEILING:
        ceiling = (report.get("consensus") or {}).get("tie_break_ceiling")
        return "no probes in this run" if ceiling is None else _pct(ceiling)
    entry = report["methods"].get(method)
    if entry is None:
        return "not in this report"
    p = entry["pass_at_1"]
    text = f"{_pct(p['estimate'])} [{_pct(p['low'])}, {_pct(p['high'])}]"
    for reference in references:
        d = report.get("differences", {}).get(f"{method} - {reference}")
        if d is not None:
            sign = "-" if round(100 * d["estimate"], 1) < 0 else "+"
            text += f"; {sign}{_pct(abs(d['estimate']))} [{_pct(d['low'])}, {_pct(d['high'])}] vs {reference}"
    return text


def references(column: str, method: str) -> list[str]:
    """What ``method`` is compared with in ``column``: the column's :data:`REFERENCE`, the ORM for a PRM alone, the
    example filter for a hybrid where the column's reference is random."""
    refs = [REFERENCE[column]]
    if method.startswith("prm"):
        refs.append(MODEL_REFERENCE)
    if method.startswith("filter:") and "filter:random" not in refs:
        refs.append("filter:random")
    return [r for r in refs if r != method]


def results_table(reports: dict[str, dict[str, Any]]) -> str:
    """The markdown table: one row per :data:`ROWS` entry, one column per report in ``reports`` (keys of
    :data:`REPORTS`), each headed by its problem count."""
    head = [f"{name} ({reports[name]['n_problems']} problems)" for name in reports]
    lines = ["| selector | " + " | ".join(head) + " | needs |", "|---" * (len(head) + 2) + "|"]
    for label, method, needs in ROWS:
        cells = [cell(reports[name], method, references(name, method)) for name in reports]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {needs} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=".", help="the eval-lcb project folder")
    ap.add_argument("--output", default="reports/results.md", help="relative to --root")
    args = ap.parse_args(argv)
    root = Path(args.root)
    reports = {name: read_report(root / rel, n) for name, (rel, n) in REPORTS.items()}
    text = ("# release_v6 best-of-N, with the window beside it\n\npass@1 % [95% CI]; paired differences from the "
            "reports' bootstrap. Written by benchmarks/lcb_results.py from "
            + ", ".join(f"`{rel}`" for rel, _ in REPORTS.values()) + ".\n\n" + results_table(reports))
    with atomic_path(root / args.output) as tmp:
        tmp.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
