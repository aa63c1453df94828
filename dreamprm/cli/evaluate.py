"""Best-of-N evaluation of every saved PRM variant against the baselines, with paired bootstrap intervals."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from dreamprm.cli._common import console, handle_errors, stage_flow


class SpeedClock(str, Enum):
    """The clocks the sandbox records per test (:data:`dreamprm.evaluate.consensus.SPEED_CLOCKS`)."""

    wall = "wall"
    cpu = "cpu"


@handle_errors
def evaluate(
    candidates: Optional[Path] = typer.Option(None, help="candidates table (default: data/generated.parquet if it exists, else data/candidates.parquet)"),
    problems: Optional[Path] = typer.Option(None, help="problems table (default: data/problems.parquet)"),
    executions: Optional[Path] = typer.Option(None, help="verdicts (default: data/executions.parquet)"),
    output: Optional[Path] = typer.Option(None, help="report folder (default: reports/)"),
    split: Optional[str] = typer.Option("eval", help="manifest side(s) to evaluate on (comma list); a side the models were trained or corrected on is refused"),
    challenger: Optional[str] = typer.Option("prm-weights", help="variant whose result decides promotion (none: no promotion, e.g. on the validation window)"),
    aggregation: str = typer.Option("min", help="step-score aggregation for promotion: min|mean|last|product|log_odds_sum"),
    resamples: int = typer.Option(10_000, help="bootstrap resamples"),
    per_problem: str = typer.Option("0", help="best-of-N over the first N candidates of each problem, sample 0 of "
                                    "every model first (0 = all); a comma list (0,6) writes one report per size "
                                    "(the first in --output, the others in <output>/per-problem-<N>, size 0 in <output>/all)"),
    execution_only: bool = typer.Option(False, "--execution-only", help="evaluate the execution-evidence "
                                        "baselines alone (random, first, majority, example filter, oracle): no "
                                        "PRM or ORM is loaded or needed; needs `dreamprm execute --tests public`"),
    hybrid_only_above: int = typer.Option(0, help="at best-of-N sizes above K (and 'all'), report the PRMs and "
                                          "the ORM only as example-filter hybrids and score only what those need: "
                                          "the candidates passing their examples plus the first K of each problem "
                                          "(0 = score everything)"),
    fusion: Optional[str] = typer.Option(None, help="folder of a fusion model (dreamprm fuse) to evaluate as "
                                         "`fusion` and `filter:fusion` (default: models/fusion when it exists; "
                                         "none: no fusion)"),
    probes: Optional[str] = typer.Option(None, help="the survivors' executions on probe inputs (dreamprm execute "
                                         "--tests probes --survivors-of <executions>) for the `consensus` methods "
                                         "(default: probes.parquet beside the executions table when it exists; none: no consensus)"),
    speed_clock: SpeedClock = typer.Option(SpeedClock.cpu, help="the clock consensus>speed and "
                                           "consensus>speedbin>m read: cpu (the program's own CPU seconds, harness "
                                           "version 7 on; chosen on validation, docs/lcb-best-of-n.md) or wall"),
    prior_from: Optional[Path] = typer.Option(None, help="a candidates table with recorded verdicts (e.g. "
                                              "data-train/candidates.parquet) for the generator prior: `prior`, "
                                              "`filter:prior`, `consensus>(speedbin>)prior` rank by the pass rate of the "
                                              "policy that wrote each candidate there (the train and meta sides "
                                              "of the manifest beside it; evaluated problems left out)"),
    scorers: Optional[str] = typer.Option(None, help="comma list of the saved models to evaluate, e.g. "
                                          "orm,prm-none (default: every one under models/)"),
) -> None:
    """Best-of-N evaluation of every saved PRM variant against the baselines, with paired bootstrap intervals."""
    evaluate_flow = stage_flow("evaluate")

    out = evaluate_flow(problems_path=str(problems) if problems else None,
                        candidates_path=str(candidates) if candidates else None,
                        executions_path=str(executions) if executions else None,
                        out_dir=str(output) if output else None, split=split,
                        challenger=None if (challenger or "").lower() in ("", "none") else challenger,
                        aggregation=aggregation, n_resamples=resamples, per_problem=per_problem,
                        execution_only=execution_only, hybrid_only_above=hybrid_only_above, fusion_dir=fusion,
                        probes_path=probes, speed_clock=speed_clock.value,
                        prior_path=str(prior_from) if prior_from else None, scorers=scorers)
    console.print(out["markdown"])
    console.print(f"report: {out['report']}   promotion: {out['promotion']}")
