"""The column contracts of the hand-off tables (see DESIGN.md "Hand-offs").

These are the single source of truth for column names; readers and writers, Great Expectations suites and the
sandbox glue all use them.

Tests are stored as a JSON string: a list of objects ``{"input": str, "output": str, "testtype": T}`` where T is
- ``stdin``: the program reads ``input`` on stdin; stdout is compared with ``output`` (LiveCodeBench rules);
- ``functional``: ``input`` holds one JSON value per line (the arguments), ``output`` the JSON of the expected
  return value; the function named by the problem's ``func_name`` is called (``Solution().<func_name>`` when the code
  defines ``class Solution``);
- ``assert``: ``input`` holds a test program defining ``check(candidate)`` (HumanEval/MBPP style); it passes when
  ``check(<func_name>)`` returns without raising; ``output`` is empty.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROBLEM_COLUMNS: dict[str, str] = {
    "problem_id": "unique id (LiveCodeBench question_id, HumanEval task_id, ...)",
    "source": "livecodebench | humaneval | mbpp | codeforces_extra (recorded non-LiveCodeBench Codeforces problems)",
    "platform": "leetcode | codeforces | atcoder | humaneval | mbpp",
    "title": "problem title",
    "statement": "problem text shown to the policy",
    "starter_code": "starter code ('' when none)",
    "contest_id": "contest id ('' when none)",
    "contest_date": "contest date, UTC timestamp (NaT for HumanEval/MBPP)",
    "difficulty": "easy | medium | hard | unknown",
    "test_type": "stdin | functional | assert",
    "func_name": "function name for functional/assert tests ('' for stdin)",
    "public_tests": "JSON list of tests (schema above)",
    "private_tests": "JSON list of tests; '[]' when the source has none",
    "has_tests": "bool: at least one public or private test is present",
    "release": "LiveCodeBench release the problem first appeared in, or the source name",
    "split": "train | meta | eval: the problem's side in split_manifest.json (dreamprm.data.split)",
}

def candidate_id(problem_id: str, policy: str, scenario: str, sample_index: int, code: str) -> str:
    """The ``candidate_id`` contract: sha256 of the JSON list (problem_id, policy, scenario, sample_index, code),
    non-ASCII kept as UTF-8, first 16 hex digits. The one implementation, for recorded and generated candidates
    alike, so the same program gets the same id whichever way it entered."""
    key = json.dumps([problem_id, policy, scenario, sample_index, code], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


CANDIDATE_COLUMNS: dict[str, str] = {
    "candidate_id": "unique id: sha256 of (problem_id, policy, scenario, sample_index, code)[:16]",
    "problem_id": "the problem it answers",
    "policy": "model that wrote it",
    "scenario": "codegeneration | selfrepair | cof | ...",
    "sample_index": "index among the samples of that policy for that problem",
    "source_file": "recorded file it was imported from ('' when generated here)",
    "raw_output": "the model's full output",
    "code": "the extracted program",
    "official_passed": "bool or null: the recorded official verdict (graded_list)",
    "official_error_code": "int or null: -2 WA, -3 TLE, -4 RE/CE, -5 grader timeout; 0 when passed",
    "official_metadata": "JSON string: the recorded per-sample metadata (first failing test, ...)",
    "official_test_results": "JSON list of per-test outcomes from the *_eval.json file, or null",
}

EXECUTION_COLUMNS: dict[str, str] = {
    "candidate_id": "the candidate",
    "problem_id": "its problem",
    "exec_key": "sha256 of (code, tests, limits, harness version)",
    "verdict": "passed | wrong_answer | time_limit | memory_limit | runtime_error | syntax_error | global_timeout",
    "passed": "bool",
    "num_tests": "number of tests",
    "num_passed": "tests passed before the first failure",
    "per_test": "JSON list of {verdict, time_s, stdout (capped), stderr (capped)}",
    "time_s": "total wall time",
    "backend": "docker | bwrap",
    "public_tests": "how many leading per_test records are public tests or statement examples (majority-vote signatures use only those)",
}

# The columns every labeller writes (outcome, Monte-Carlo, mixed). The label stage then adds ``split`` (the problem's
# side in the split manifest: train or meta) before its Great Expectations check, which requires it, as do train,
# correct and fuse (dreamprm.validation.validate_step_labels).
STEP_LABEL_COLUMNS: dict[str, str] = {
    "candidate_id": "the labelled candidate",
    "problem_id": "its problem",
    "prompt": "the problem text the PRM reads (dreamprm.prm.template.PRMInput), not the policy's prompt",
    "statement": "the problem statement",
    "starter_code": "the starter code ('' when none)",
    "completions": "list of step texts (TRL's stepwise-supervision layout)",
    "labels": "list of bool, one per step: the step's hard label",
    "soft_labels": "list of float in [0, 1], one per step: Monte-Carlo pass fraction, or the outcome label",
    "clean": "list of bool, one per step: the label is an official or sandbox verdict, not an estimate",
    "rollout_counts": "list of int, one per step: rollouts that finished (0 where none ran)",
    "rollout_passes": "list of int, one per step: of those, how many passed",
    "step_offsets": "list of int: character offset of each step in the code",
    "split_rule": "how the code was cut into steps (dreamprm.steps)",
    "policy": "model that wrote the candidate",
    "prompt_version": "version of the prompt template behind the candidate",
    "sampling": "JSON string: the labelling settings (rollouts, temperature, ... or the outcome method)",
}

VERDICTS = ("passed", "wrong_answer", "time_limit", "memory_limit", "runtime_error", "syntax_error", "global_timeout")
DIFFICULTIES = ("easy", "medium", "hard", "unknown")
TEST_TYPES = ("stdin", "functional", "assert")
SOURCES = ("livecodebench", "humaneval", "mbpp", "codeforces_extra")


def default_candidates_path(data_dir: Path | str) -> Path:
    """The candidates table that execute, label and evaluate read when none is named: the generate stage's
    ``generated.parquet`` when it exists, else fetch's ``candidates.parquet`` (recorded generations). One rule for
    all three stages, so following the stage table never labels candidates that were not executed."""
    d = Path(data_dir)
    generated = d / "generated.parquet"
    return generated if generated.exists() else d / "candidates.parquet"


def is_null(value: Any) -> bool:
    """A missing cell as pandas and pyarrow hand it over: None, a float NaN, or ``pd.NA`` (a nullable ``boolean``
    column, as fetch writes ``official_passed``)."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def is_bool(value: Any) -> bool:
    """A boolean cell: Python's bool or numpy's (a bool column without nulls hands over ``numpy.bool_``)."""
    return isinstance(value, (bool, np.bool_))
