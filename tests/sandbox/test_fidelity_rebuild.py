"""benchmarks/fidelity.py rebuilds functional tests from LiveCodeBench's failure metadata (str() of values)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fidelity as F

STARTER_STR = "class Solution:\n    def getSmallestString(self, s: str) -> str:\n        "
STARTER_INT = "class Solution:\n    def f(self, nums: List[int], flag: bool) -> List[int]:\n        "


def test_str_return_keeps_digits_as_a_string():
    t = F.functional_test_from_metadata({"inputs": "['45320']", "expected": "43520"}, STARTER_STR)
    assert t["input"] == '"45320"' and json.loads(t["output"]) == "43520"


def test_python_reprs_are_read_as_python_literals():
    t = F.functional_test_from_metadata({"inputs": "[[1, 2], True]", "expected": "[3, None]"}, STARTER_INT)
    assert [json.loads(x) for x in t["input"].split("\n")] == [[1, 2], True]
    assert json.loads(t["output"]) == [3, None]


def test_example_inputs_parsed_from_statement():
    text = 'Example 1:\n\nInput: nums = [3,1,4], s = "ab", ok = true\nOutput: 2\n'
    assert F.example_inputs(text) == [[[3, 1, 4], "ab", True]]
