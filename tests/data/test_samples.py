"""Sample tests parsed from statements: both LiveCodeBench layouts, and examples that must be skipped."""

from __future__ import annotations

import json

import pytest

from dreamprm.data.samples import sample_tests
from dreamprm.execution import problem_tests

ATCODER = ("Print A+B.\n\nSample Input 1\n\n20 25\n\nSample Output 1\n\n45\r\n\n(20+25)=45.\n\n"
           "Sample Input 2\n\n3\n1 2 3\n\nSample Output 2\n\n6\n7")
LEETCODE = ("Return the sum.\n \nExample 1:\n\nInput: nums = [1,2,3], k = 2\nOutput: 8\nExplanation: sum plus k.\n\n"
            "Example 2:\n\nInput: nums = [], k = -1\nOutput: -1\n\nExample 3:\n\nInput: values = [1]\nOutput: 1\n\n"
            "Example 4:\n\nInput: nums = [1, 2], k = not json\nOutput: 3\n")
STARTER = "class Solution:\n    def total(self, nums: List[int], k: int) -> int:\n        "


def test_stdin_samples_cut_input_and_output_blocks() -> None:
    tests = sample_tests({"statement": ATCODER, "func_name": ""})
    assert tests == [{"input": "20 25\n", "output": "45\n", "testtype": "stdin"},
                     {"input": "3\n1 2 3\n", "output": "6\n7\n", "testtype": "stdin"}]


def test_functional_samples_follow_the_signature_and_skip_what_does_not_match() -> None:
    tests = sample_tests({"statement": LEETCODE, "func_name": "total", "starter_code": STARTER,
                          "test_type": "functional"})
    # example 3 names a parameter the method does not have; example 4 has a value that is not a literal
    assert [t["input"] for t in tests] == ["[1, 2, 3]\n2", "[]\n-1"]
    assert [json.loads(t["output"]) for t in tests] == [8, -1]
    assert {t["testtype"] for t in tests} == {"functional"}


def test_no_examples_gives_no_tests() -> None:
    assert sample_tests({"statement": "Nothing to see.", "func_name": ""}) == []
    assert sample_tests({"statement": LEETCODE, "func_name": "total", "starter_code": "not python ("}) == []


@pytest.mark.parametrize("public, expect_samples", [(None, True), ("", True), (json.dumps([{"input": "1\n",
                         "output": "2\n", "testtype": "stdin"}]), False)])
def test_public_tests_fall_back_to_statement_samples(public, expect_samples) -> None:
    problem = {"statement": ATCODER, "func_name": "", "public_tests": public, "private_tests": None}
    tests = problem_tests(problem, "public")
    assert (tests[0]["input"] == "20 25\n") is expect_samples
    assert problem_tests(problem, "all") == ([] if public in (None, "") else json.loads(public))


def test_a_blank_line_after_sample_output_is_an_empty_output_unless_the_input_had_it_too() -> None:
    """LiveCodeBench's abc371_e puts an extra blank line before every block (its output is 8, not empty); abc367_c's
    second sample really has an empty output, then its explanation."""
    extra = ("Sample Input 1\n\n\n3\r\n1 2 2\n\nSample Output 1\n\n\n8\r\n\nConsider f(1,2).\n\n"
             "Sample Input 2\n\n\n9\r\n5 4\n\nSample Output 2\n\n\n111")
    assert [t["output"] for t in sample_tests({"statement": extra, "func_name": ""})] == ["8\n", "111\n"]
    empty = ("Sample Input 1\n\n3 2\r\n2 1 3\n\nSample Output 1\n\n1 1 2\r\n\nThree sequences.\n\n"
             "Sample Input 2\n\n1 2\r\n1\n\nSample Output 2\n\n\nThere may be no sequences to print.\r\n"
             "In this case, the output can be empty.\n\nSample Input 3\n\n...\n\nSample Output 3\n\n\r\n\r\n\nAll dots.")
    assert [t["output"] for t in sample_tests({"statement": empty, "func_name": ""})] == ["1 1 2\n", "\n", "\n"]
