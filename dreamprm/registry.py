"""The MLflow model registry's aliases: a newly trained PRM is the `challenger`; it becomes the `champion` only on the
evidence of the evaluation that scored it:

- it must beat RANDOM selection on the same problems, with the paired-bootstrap lower bound of the pass@1
  difference above zero (a PRM that picks no better than chance is never promoted, not even the first one);
- and, when a champion exists, beat the CHAMPION the same way (both scored on the same candidates).

The version that moves is the exact version the evaluated model folder was registered as (``registry.json``
written beside the model by the correct stage), never whatever the `challenger` alias points to at the time.

:func:`decide_promotion` is the pure decision (tested on constructed score tables); :func:`apply_promotion` moves the
alias and tags the model version with the evidence.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from dreamprm.errors import InputDataError

CHALLENGER = "challenger"
CHAMPION = "champion"
REGISTRATION_FILE = "registry.json"


@dataclass
class PromotionDecision:
    promote: bool
    reason: str
    challenger_pass_at_1: float | None = None
    champion_pass_at_1: float | None = None
    random_pass_at_1: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    random_diff_low: float | None = None
    random_diff_high: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def decide_promotion(challenger: Sequence[float], champion: Sequence[float] | None, *,
                     random: Sequence[float], n_resamples: int = 10_000, level: float = 0.95,
                     seed: int = 0) -> PromotionDecision:
    """Promote when the paired bootstrap interval of (challenger - random) pass@1 lies above zero AND, when there
    is a champion, that of (challenger - champion) too. All sequences hold per-problem values in the same order;
    the reason names the bar that was missed."""
    import numpy as np

    from dreamprm.evaluate.stats import paired_difference

    ch = np.asarray(challenger, dtype=float)
    rnd = np.asarray(random, dtype=float)
    if ch.size == 0 or ch.shape != rnd.shape:
        return PromotionDecision(False, f"not comparable: {ch.size} challenger and {rnd.size} random problems")
    pct = f"{round(level * 100)}%"
    vs_random = paired_difference(ch, rnd, n_resamples=n_resamples, level=level, seed=seed)
    common: dict[str, Any] = dict(challenger_pass_at_1=float(ch.mean()), random_pass_at_1=float(rnd.mean()),
                                  random_diff_low=float(vs_random.interval.low),
                                  random_diff_high=float(vs_random.interval.high))
    if not vs_random.interval.low > 0:
        return PromotionDecision(False, f"missed the random bar: challenger {ch.mean():.3f} vs random "
                                        f"{rnd.mean():.3f}, {pct} interval of the difference "
                                        f"[{vs_random.interval.low:+.3f}, {vs_random.interval.high:+.3f}] does not "
                                        "lie above zero", **common)
    if champion is None:
        return PromotionDecision(True, f"no champion yet; challenger {ch.mean():.3f} beats random {rnd.mean():.3f} "
                                       f"({pct} interval [{vs_random.interval.low:+.3f}, "
                                       f"{vs_random.interval.high:+.3f}])", **common)
    cp = np.asarray(champion, dtype=float)
    if ch.shape != cp.shape:
        return PromotionDecision(False, f"not comparable: {ch.size} challenger and {cp.size} champion problems",
                                 **common)
    diff = paired_difference(ch, cp, n_resamples=n_resamples, level=level, seed=seed)
    common.update(champion_pass_at_1=float(cp.mean()), diff_low=float(diff.interval.low),
                  diff_high=float(diff.interval.high))
    if diff.interval.low > 0:
        return PromotionDecision(True, f"challenger {ch.mean():.3f} beats random and champion {cp.mean():.3f}: "
                                       f"{pct} interval of the difference [{diff.interval.low:+.3f}, "
                                       f"{diff.interval.high:+.3f}] is above zero", **common)
    return PromotionDecision(False, f"missed the champion bar: challenger {ch.mean():.3f} vs champion "
                                    f"{cp.mean():.3f}, {pct} interval of the difference [{diff.interval.low:+.3f}, "
                                    f"{diff.interval.high:+.3f}] does not lie above zero, so the champion stays",
                             **common)


def write_registration(model_dir: Path | str, name: str, version: str, run_id: str) -> Path:
    """Record beside a saved model which registry version it is (evaluate promotes exactly that version)."""
    from dreamprm.io import write_text

    return write_text(json.dumps({"name": name, "version": str(version), "run_id": run_id}, indent=1) + "\n",
                      Path(model_dir) / REGISTRATION_FILE)


def read_registration(model_dir: Path | str) -> dict[str, str] | None:
    path = Path(model_dir) / REGISTRATION_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def registered_version(name: str, model_dir: Path | str) -> str | None:
    """The registry version of the model saved in ``model_dir``, checked against the registry: a record that
    names a version the registry does not have (deleted, or another tracking store) is an error naming both."""
    reg = read_registration(model_dir)
    if reg is None:
        return None
    from mlflow import MlflowClient

    try:
        mv = MlflowClient().get_model_version(name, reg["version"])
    except Exception:  # noqa: BLE001 - MLflow raises for a missing model or version
        raise InputDataError(f"the model was registered as {name} version {reg['version']}, which the registry "
                             "does not have", path=Path(model_dir) / REGISTRATION_FILE, field="version",
                             expected="a version of the current MLflow registry (re-run `dreamprm correct`)") from None
    if mv.run_id != reg.get("run_id"):
        raise InputDataError(f"{name} version {reg['version']} belongs to run {mv.run_id}, not {reg.get('run_id')}",
                             path=Path(model_dir) / REGISTRATION_FILE, field="run_id")
    return str(mv.version)


def alias_version(name: str, alias: str) -> str | None:
    """The version behind ``alias``, or None when the model or alias does not exist."""
    from mlflow import MlflowClient

    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except Exception:  # noqa: BLE001 - MLflow raises for a missing alias or model
        return None


def apply_promotion(name: str, decision: PromotionDecision, eval_set: str, version: str) -> str:
    """Tag ``version`` (the evaluated model's own registry version) with the evidence and, when
    ``decision.promote``, point `champion` at it. Returns the version."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_model_version_tag(name, version, "eval.set", eval_set)
    client.set_model_version_tag(name, version, "promotion", decision.reason)
    if decision.challenger_pass_at_1 is not None:
        client.set_model_version_tag(name, version, "eval.pass_at_1", f"{decision.challenger_pass_at_1:.6f}")
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    return version
