"""The MLflow model registry's aliases: a newly trained PRM is the `challenger`; it becomes the `champion` only when
it beats the current champion on the SAME evaluation set, with the paired-bootstrap lower bound of the pass@1
difference above zero (the evaluate stage scores both models on the same candidates). With no champion yet, the
first challenger becomes the champion.

:func:`decide_promotion` is the pure decision (tested on constructed score tables); :func:`apply_promotion` moves the
alias and tags the model versions with the evidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

CHALLENGER = "challenger"
CHAMPION = "champion"


@dataclass
class PromotionDecision:
    promote: bool
    reason: str
    challenger_pass_at_1: float | None = None
    champion_pass_at_1: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def decide_promotion(challenger: Sequence[float], champion: Sequence[float] | None, *, n_resamples: int = 10_000,
                     level: float = 0.95, seed: int = 0) -> PromotionDecision:
    """Promote when there is no champion, or when the paired bootstrap interval of (challenger - champion) pass@1
    over the same problems lies above zero. Both sequences hold per-problem values in the same problem order."""
    import numpy as np

    from dreamprm.evaluate.stats import paired_difference

    ch = np.asarray(challenger, dtype=float)
    if champion is None:
        return PromotionDecision(True, "no champion yet: the first challenger becomes the champion", float(ch.mean()))
    cp = np.asarray(champion, dtype=float)
    if ch.shape != cp.shape or ch.size == 0:
        return PromotionDecision(False, f"not comparable: {ch.size} challenger and {cp.size} champion problems")
    diff = paired_difference(ch, cp, n_resamples=n_resamples, level=level, seed=seed)
    common = dict(challenger_pass_at_1=float(ch.mean()), champion_pass_at_1=float(cp.mean()),
                  diff_low=float(diff.interval.low), diff_high=float(diff.interval.high))
    pct = f"{round(level * 100)}%"
    if diff.interval.low > 0:
        return PromotionDecision(True, f"challenger {ch.mean():.3f} beats champion {cp.mean():.3f}: "
                                       f"{pct} interval of the difference [{diff.interval.low:+.3f}, "
                                       f"{diff.interval.high:+.3f}] is above zero", **common)
    return PromotionDecision(False, f"challenger {ch.mean():.3f} vs champion {cp.mean():.3f}: {pct} interval of "
                                    f"the difference [{diff.interval.low:+.3f}, {diff.interval.high:+.3f}] does not "
                                    "lie above zero, so the champion stays", **common)


def alias_version(name: str, alias: str) -> str | None:
    """The version behind ``alias``, or None when the model or alias does not exist."""
    from mlflow import MlflowClient

    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except Exception:  # noqa: BLE001 - MLflow raises for a missing alias or model
        return None


def apply_promotion(name: str, decision: PromotionDecision, eval_set: str) -> str | None:
    """Tag the challenger version with the evidence and, when ``decision.promote``, point `champion` at it.
    Returns the challenger version (None when there is none)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    version = alias_version(name, CHALLENGER)
    if version is None:
        return None
    client.set_model_version_tag(name, version, "eval.set", eval_set)
    client.set_model_version_tag(name, version, "promotion", decision.reason)
    if decision.challenger_pass_at_1 is not None:
        client.set_model_version_tag(name, version, "eval.pass_at_1", f"{decision.challenger_pass_at_1:.6f}")
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    return version
