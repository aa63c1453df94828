"""The MLflow model registry's aliases: a newly trained PRM is the `challenger`; it becomes the `champion` only
when it beats the current champion on the same evaluation set (the champion's score is recorded as a tag of its
model version, with the evaluation set's hash, so that only like is compared with like)."""

from __future__ import annotations

from dataclasses import dataclass

CHALLENGER = "challenger"
CHAMPION = "champion"
SCORE_TAG = "eval.pass_at_1"
EVALSET_TAG = "eval.set"


@dataclass
class PromotionDecision:
    promoted: bool
    reason: str
    challenger_version: str | None
    champion_version: str | None


def _alias_version(client, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:  # noqa: BLE001 - MLflow raises for a missing alias or model
        return None


def record_and_promote(name: str, challenger_score: float, eval_set: str, *, min_gain: float = 0.0,
                       champion_score: float | None = None) -> PromotionDecision:
    """Tag the challenger with its score; promote it when there is no champion, or when it beats the champion's
    score on the same evaluation set by more than ``min_gain``. ``champion_score`` overrides the champion's recorded
    score (use it when the champion was re-scored on this set in the same run)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    chall = _alias_version(client, name, CHALLENGER)
    champ = _alias_version(client, name, CHAMPION)
    if chall is None:
        return PromotionDecision(False, f"model {name!r} has no `{CHALLENGER}` version", None, champ)
    client.set_model_version_tag(name, chall, SCORE_TAG, f"{challenger_score:.6f}")
    client.set_model_version_tag(name, chall, EVALSET_TAG, eval_set)
    if champ is None:
        client.set_registered_model_alias(name, CHAMPION, chall)
        return PromotionDecision(True, "no champion yet", chall, None)
    if champ == chall:
        return PromotionDecision(False, "the challenger already is the champion", chall, champ)
    if champion_score is None:
        tags = client.get_model_version(name, champ).tags
        if tags.get(EVALSET_TAG) != eval_set or SCORE_TAG not in tags:
            return PromotionDecision(False, "the champion was not evaluated on this evaluation set; re-score it",
                                     chall, champ)
        champion_score = float(tags[SCORE_TAG])
    if challenger_score > champion_score + min_gain:
        client.set_registered_model_alias(name, CHAMPION, chall)
        return PromotionDecision(True, f"{challenger_score:.4f} beats the champion's {champion_score:.4f}", chall, champ)
    return PromotionDecision(False, f"{challenger_score:.4f} does not beat the champion's {champion_score:.4f}",
                             chall, champ)
