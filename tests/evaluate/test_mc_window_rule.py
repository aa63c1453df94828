"""The pre-registered decision rule of benchmarks/lcb_mc_window.py (Monte-Carlo labels adopted or not)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from lcb_mc_window import RULE_METHODS, method_key, verdict  # noqa: E402

WARMUP, CONSENSUS = RULE_METHODS


@pytest.mark.parametrize(("warmup", "consensus", "adopt"), [
    (0.52, 0.55, True),    # one strictly higher, the other equal
    (0.53, 0.56, True),    # both higher
    (0.52, 0.54, False),   # equal on both: no gain
    (0.56, 0.53, False),   # one higher, the other lower
    (0.50, 0.54, False),   # lower
])
def test_rule_needs_no_loss_and_one_gain(warmup, consensus, adopt):
    outcome = {WARMUP: 0.52, CONSENSUS: 0.54}
    assert verdict(outcome, {WARMUP: warmup, CONSENSUS: consensus}) is adopt


def test_method_key_takes_the_chosen_aggregation_and_names_a_missing_method():
    methods = {"filter:prm-warmup:min": {}, "filter:prm-warmup:mean": {}, "filter:consensus>prm-none": {},
               "random": {}}
    assert method_key(methods, "filter:prm-warmup") == "filter:prm-warmup:mean"
    assert method_key(methods, "filter:prm-warmup", "min") == "filter:prm-warmup:min"
    assert method_key(methods, "filter:consensus>prm-none") == "filter:consensus>prm-none"
    assert method_key(methods, "random") == "random"
    with pytest.raises(SystemExit, match="no method filter:prm-none or filter:prm-none:mean"):
        method_key(methods, "filter:prm-none")
