"""The generator prior: rank each candidate by how often the model that wrote it is right on the training side.

When the N candidates of a problem come from several models (release_v6's six open models, sample 0 of each at
N=6), the cheapest ranker a user can build knows nothing about the code: it trusts the model that passes most often.
Its pass@1 is what a learned PRM or ORM must beat before its reading of the code adds anything (on the N=60
validation set, the six models' training-side pass rates alone pick 23.3 % right against random's 14.8, where the
trained PRM sat below random; README). It also breaks consensus ties (``consensus>prior``) like any model.

Rule (:data:`PRIOR_RULE`): a candidate's score is its policy's pass rate over the source table's candidates with a
recorded verdict (``official_passed``) on the training side of the split manifest beside that table (its train and
meta sides; every problem when there is no manifest), counting only problems that are NOT evaluated here, so no
evaluated problem's verdict reaches its own ranking, whatever table is passed, and no eval-side verdict (a test or
validation problem the source also holds) reaches any ranking; a policy the source has no verdict for gets no
score (ranked below every scored candidate, and counted in the report); ties (the same policy, or equal rates) fall
to the earliest sample, as for every score.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dreamprm.errors import InputDataError
from dreamprm.execution import official_verdict

log = logging.getLogger(__name__)

PRIOR_COLUMN = "scores:prior"
TRAINING_SIDES = ("train", "meta")  # the manifest sides the rates may read: never a test or validation problem
PRIOR_RULE = ("with evaluate --prior-from: method `prior` scores each candidate by its policy's pass rate over the "
              "source table's recorded verdicts (official_passed) on the train and meta sides of the manifest beside "
              "it (all its problems without one) that are not evaluated here; a "
              "policy without verdicts there gets no score (ranked below the scored; counted); ties to the "
              "earliest sample; `filter:prior` ranks the example survivors by it, `consensus>prior` and "
              "`consensus>speedbin>prior` break the consensus ties by it (after speed bins in the latter)")


@dataclass(frozen=True)
class GeneratorPrior:
    """Per-policy pass rates measured on the source's problems outside the evaluated set."""

    source: str
    rates: dict[str, float]
    counts: dict[str, int]
    n_problems: int
    n_excluded_problems: int  # source problems dropped because they are evaluated here
    n_without_verdict: int  # source candidates with no recorded verdict (left out of the rates)
    sides: str = "all"  # the manifest sides the rates read ("all": the source had no manifest beside it)
    n_off_side_problems: int = 0  # source problems dropped because they are not on those sides

    @classmethod
    def from_table(cls, source: pd.DataFrame, evaluated_problems: Iterable[str], path: str | Path,
                   training_side: Iterable[str] | None = None, sides: str = "all") -> GeneratorPrior:
        """Rates from ``source`` (a candidates table: problem_id, policy, official_passed), keeping only the
        problems in ``training_side`` (None: all) and leaving out every problem in ``evaluated_problems``. A table
        without those columns, or with no verdict left, is an error naming the file: a prior of nothing would rank
        every candidate alike."""
        missing = [c for c in ("problem_id", "policy", "official_passed") if c not in source]
        if missing:
            raise InputDataError(f"the generator prior's source has no {', '.join(missing)} column", path=path,
                                 field=missing[0], expected="a candidates table with recorded verdicts "
                                                            "(dreamprm fetch --recorded ...)")
        evaluated = {str(p) for p in evaluated_problems}
        pid = source["problem_id"].astype(str)
        on_side = pid.isin({str(p) for p in training_side}) if training_side is not None else pd.Series(
            True, index=source.index)
        off_side = int(source.loc[~on_side, "problem_id"].nunique())
        source, pid = source[on_side], pid[on_side]
        outside = source[~pid.isin(evaluated)]
        verdict = outside["official_passed"]
        known = verdict.notna()
        kept = outside[known]
        if kept.empty:
            raise InputDataError(f"the generator prior's source has no recorded verdict on a problem of its "
                                 f"{sides} side(s) outside the evaluated set ({off_side} problems off those sides, "
                                 f"{int(source['problem_id'].astype(str).isin(evaluated).sum())} candidates on "
                                 f"evaluated problems, {int(outside['official_passed'].isna().sum())} without a "
                                 "verdict)", path=path, field="official_passed",
                                 expected="training-side candidates with official verdicts")
        passed = pd.Series([official_verdict(v, str(c)) for v, c in zip(kept["official_passed"],
                                                                          kept.get("candidate_id", kept.index))],
                           index=kept.index, dtype=bool)  # a verdict stored as text is an error, not a pass
        by_policy = passed.groupby(kept["policy"].astype(str))
        return cls(source=str(path), rates={k: float(v) for k, v in by_policy.mean().items()},
                   counts={k: int(v) for k, v in by_policy.size().items()},
                   n_problems=int(kept["problem_id"].nunique()),
                   n_excluded_problems=int(source.loc[pid.isin(evaluated), "problem_id"].nunique()),
                   n_without_verdict=int((~known).sum()), sides=sides, n_off_side_problems=off_side)

    @classmethod
    def load(cls, path: str | Path, evaluated_problems: Iterable[str]) -> GeneratorPrior:
        """From a candidates table on disk, reading only the train and meta sides of the split manifest that
        ``dreamprm fetch`` wrote beside it (every problem when there is none)."""
        from dreamprm.data.split import SplitManifest, manifest_path_for
        from dreamprm.io import read_parquet

        if not Path(path).exists():
            raise InputDataError("no candidates table at this path for the generator prior", path=path,
                                 field="prior_from", expected="a candidates table with recorded verdicts, e.g. "
                                                              "data-train/candidates.parquet")
        manifest = manifest_path_for(path)
        if not manifest.exists():
            log.warning("no split manifest beside %s: the generator prior reads every problem of it but the "
                        "evaluated ones (the report says sides 'all')", path)
            return cls.from_table(read_parquet(path), evaluated_problems, path)
        training = SplitManifest.load(manifest).ids(*TRAINING_SIDES)
        return cls.from_table(read_parquet(path), evaluated_problems, path, training, ",".join(TRAINING_SIDES))

    def score_lists(self, policies: pd.Series) -> list[list[float] | None]:
        """``scores:prior`` values for candidates written by ``policies``: one rate each (a one-step score list),
        None for a policy without a rate."""
        return [None if p not in self.rates else [self.rates[p]] for p in policies.astype(str)]

    def summary(self, policies: pd.Series) -> dict[str, Any]:
        """What the report shows: the source, each policy's rate and verdict count, what was left out."""
        names = policies.astype(str)
        unknown = sorted(set(names) - set(self.rates))
        return {"source": self.source, "sides": self.sides, "rates": self.rates, "counts": self.counts,
                "n_problems": self.n_problems, "n_off_side_problems": self.n_off_side_problems,
                "n_excluded_problems": self.n_excluded_problems, "n_without_verdict": self.n_without_verdict,
                "unknown_policies": unknown, "n_candidates_without_prior": int(names.isin(unknown).sum())}


def add_prior_scores(frame: pd.DataFrame, prior: GeneratorPrior | None,
                     candidates_path: str | Path | None = None) -> pd.DataFrame:
    """``frame`` with ``scores:prior`` added when there is a prior (``frame`` needs the ``policy`` column). No
    evaluated candidate with a rate (the two tables name their models differently) is an error: the prior would
    quietly rank like ``first``."""
    if prior is None:
        return frame
    if "policy" not in frame:
        raise InputDataError("the generator prior needs the evaluated candidates' policy column",
                             path=candidates_path, field="policy",
                             expected="a candidates table with the model that wrote each candidate")
    out = frame.copy()
    out[PRIOR_COLUMN] = prior.score_lists(out["policy"])
    if out[PRIOR_COLUMN].isna().all() and len(out):
        raise InputDataError(f"no evaluated candidate's policy has a rate in {prior.source}: evaluated "
                             f"{sorted(set(out['policy'].astype(str)))[:10]}", path=candidates_path, field="policy",
                             expected=f"policies of the source: {sorted(prior.rates)[:10]}")
    return out
