"""The replay policy serves recorded candidates."""

from __future__ import annotations

import pandas as pd
import pytest

from dreamprm.errors import DreamPRMError, InputDataError
from dreamprm.extract import extract_code
from dreamprm.policy import SamplingParams, get_policy
from dreamprm.policy.replay import ReplayPolicy
from dreamprm.prompts import build_prompt, build_rollout_prompt
from dreamprm.settings import PolicySettings

ROWS = pd.DataFrame(
    {
        "candidate_id": ["c2", "c1", "c3", "c4"],
        "problem_id": ["p1", "p1", "p2", "p1"],
        "policy": ["m1", "m1", "m1", "m2"],
        "sample_index": [1, 0, 0, 0],
        "raw_output": ["```python\nprint(2)\n```", "```python\nprint(1)\n```", "", "x"],
        "code": ["print(2)\n", "print(1)\n", "print(3)\n", "x"],
    }
)


def prompt(pid):
    return build_prompt({"problem_id": pid, "statement": "S", "test_type": "stdin", "starter_code": ""})


def test_replay_serves_recorded_candidates_in_order(tmp_path):
    path = tmp_path / "candidates.parquet"
    ROWS.to_parquet(path)
    backend = ReplayPolicy(path, policy="m1")
    out = backend.generate([prompt("p1"), prompt("p2")], SamplingParams(n=3))
    assert [c.meta.get("candidate_id") for c in out[0][:2]] == ["c1", "c2"]
    assert [extract_code(c.text).code for c in out[0][:2]] == ["print(1)\n", "print(2)\n"]
    assert not out[0][2].ok and out[0][2].error.startswith("no_recording")
    assert out[1][0].text == "```python\nprint(3)\n```" and out[1][0].meta["code"] == "print(3)\n"
    assert backend.count("p1") == 2 and backend.problem_ids() == ["p1", "p2"]
    assert backend.identity()["model"] == "replay:m1"


def test_replay_refuses_rollouts_and_bare_messages():
    backend = ReplayPolicy(ROWS)
    with pytest.raises(DreamPRMError, match="cannot continue a code prefix"):
        backend.generate([build_rollout_prompt(
            {"problem_id": "p1", "statement": "S", "test_type": "stdin"}, "import sys\n")], SamplingParams())
    with pytest.raises(DreamPRMError, match="problem_id"):
        backend.generate([[{"role": "user", "content": "x"}]], SamplingParams())


def test_replay_bad_table(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        ReplayPolicy(tmp_path / "missing.parquet")
    with pytest.raises(InputDataError, match="raw_output"):
        ReplayPolicy(ROWS.drop(columns=["raw_output"]))


def test_get_policy_replay():
    backend = get_policy(PolicySettings(backend="replay"), candidates=ROWS)
    assert isinstance(backend, ReplayPolicy) and backend.count("p1") == 3
