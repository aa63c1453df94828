"""Probe inputs derived from a problem's examples: shape kept (sizes, one-token counts, line and token counts),
deterministic per problem, no duplicates of an example, no expected output."""

from __future__ import annotations

import json

import pytest

from dreamprm.data.probes import grown_probes, probe_tests, size_bound, value_bound, wide_probes
from dreamprm.execution import problem_tests, public_test_count


def _stdin(inp: str) -> dict:
    return {"input": inp, "output": "x\n", "testtype": "stdin"}


def test_stdin_probes_keep_sizes_counts_and_shape():
    examples = [_stdin("5 2\n3 1 4 1 5\n2\nabcab\n"), _stdin("3 1\n9 8 7\n1\nzz\n")]
    probes = probe_tests({"problem_id": "abc001_a"}, examples, 8)
    assert len(probes) == 8
    inputs = {e["input"] for e in examples}
    for p in probes:
        assert p["output"] is None and p["testtype"] == "stdin" and p["input"] not in inputs
        lines = p["input"].split("\n")
        source = next(e["input"].split("\n") for e in examples if e["input"].split("\n")[0] == lines[0])
        assert [len(line.split()) for line in lines] == [len(line.split()) for line in source]
        assert lines[2] == source[2]  # a one-token integer line (a count) is kept
        assert len(lines[3]) == len(source[3]) and set(lines[3]) <= set(source[3])
        values = [int(t) for t in lines[1].split()]
        src = [int(t) for t in source[1].split()]
        top = max(int(t) for t in source[0].split())  # positive values: within 1 and the largest size or value
        assert 1 <= min(values) and max(values) <= max(max(src), top)
    assert len({p["input"] for p in probes}) == len(probes)


def test_probes_are_deterministic_per_problem():
    examples = [_stdin("4\n1 2 3 4\n")]
    a = probe_tests({"problem_id": "p1"}, examples, 6)
    assert a == probe_tests({"problem_id": "p1"}, examples, 6)
    assert a != probe_tests({"problem_id": "p2"}, examples, 6)


def test_one_line_input_is_redrawn_within_one_and_its_max():
    probes = probe_tests({"problem_id": "q"}, [_stdin("400 500 600\n")], 5)
    assert probes
    for p in probes:
        values = [int(t) for t in p["input"].split()]
        assert len(values) == 3 and all(1 <= v <= 600 for v in values)


def test_functional_probes_mutate_lists_and_strings_and_keep_scalars():
    example = {"input": "[3, 1, 2, 5]\n\"abba\"\n2", "output": "1", "testtype": "functional"}
    probes = probe_tests({"problem_id": "lc1"}, [example], 6)
    assert probes
    for p in probes:
        nums, word, k = [json.loads(line) for line in p["input"].split("\n")]
        assert len(nums) == 4 and all(1 <= v <= 5 for v in nums)
        assert len(word) == 4 and set(word) <= {"a", "b"}
        assert k == 2


def test_nothing_to_derive_gives_no_probes():
    assert probe_tests({"problem_id": "x"}, [], 8) == []
    assert probe_tests({"problem_id": "x"}, [_stdin("  \n")], 8, 2) == []  # a blank example
    assert probe_tests({"problem_id": "x"}, [{"input": "assert f(1) == 2", "output": "", "testtype": "assert"}],
                       8, 2) == []
    # every line is a size or a count: no variation is possible, so no duplicate of the example is made
    assert probe_tests({"problem_id": "x"}, [_stdin("3\n1\n2\n")], 8) == []


def test_execution_tests_probes_come_from_the_public_tests():
    problem = {"problem_id": "p", "public_tests": json.dumps([_stdin("2\n1 2\n")]), "statement": ""}
    probes = problem_tests(problem, "probes", 3)
    assert probes and all(t["output"] is None for t in probes)
    assert public_test_count(problem, "probes", probes) == len(probes)
    assert public_test_count(problem, "probes") == len(problem_tests(problem, "probes"))  # built when not given


@pytest.mark.parametrize("statement, functional, bound", [
    (r"- 1 \leq N \leq 2\times 10^5\n- 1 \leq A_i \leq 10^9", False, 200_000),
    ("The first line contains one integer n (1 ≤ n ≤ 100000).", False, 100_000),
    (r"$2 \le n \le 3 \cdot 10^5$, $2 \le p \le 10^9$", False, 300_000),
    ("3 <= s.length <= 2 * 10^4\n1 <= k <= 10^9", True, 20_000),
    ("1 <= n <= 1000", True, 1000),
    ("1 <= k <= 10^9", True, None),
])
def test_size_bound_reads_the_constraints(statement, functional, bound):
    assert size_bound(statement, functional) == bound


def test_grown_stdin_probe_raises_the_size_and_regrows_its_lines():
    problem = {"problem_id": "g", "statement": r"1 \leq N \leq 2\times 10^5"}
    probes = grown_probes(problem, [_stdin("4 2\n2 4 1 3\nabab\n1\n")], 2)
    assert len(probes) == 2 and probes[0] != probes[1]
    for p in probes:
        first, perm, word, count = p["input"].split("\n")[:4]
        assert first == "20000 2" and count == "1"  # the size grows to the cap, other values stay
        assert sorted(map(int, perm.split())) == list(range(1, 20_001))  # a permutation stays one
        assert len(word) == 20_000 and set(word) <= {"a", "b"}


def test_grown_functional_probe_and_no_bound_no_probe():
    example = {"input": "[5, 9, 7]\n2", "output": "1", "testtype": "functional"}
    probes = grown_probes({"problem_id": "f", "statement": "1 <= nums.length <= 500"}, [example], 1)
    nums, k = [json.loads(line) for line in probes[0]["input"].split("\n")]
    assert len(nums) == 500 and all(5 <= v <= 9 for v in nums) and k == 2
    assert grown_probes({"problem_id": "f", "statement": "no constraints"}, [example], 2) == []


@pytest.mark.parametrize("statement, bound", [
    (r"1 \leq N \leq 2\times 10^5, 1 \leq A_i \leq 10^9", 10**9),
    ("1 <= nums.length <= 10^5\n1 <= nums[i] <= 10^9\n1 <= k <= 50", 10**9),
    ("1 <= grid[i][j] <= 100", 100),
    ("1 <= n <= 10^5", None),  # a size is not a value bound
])
def test_value_bound_reads_value_constraints(statement, bound):
    assert value_bound(statement) == bound


def test_wide_stdin_probe_widens_free_values_keeping_order_and_equality():
    problem = {"problem_id": "w", "statement": r"1 \leq N \leq 100, 1 \leq A_i \leq 10^9"}
    example = _stdin("4\n10 30 10 20\n2 3\n")  # line 2 (pairs bounded by N) stays, line 1 is free values
    probes = wide_probes(problem, [example], 2)
    assert len(probes) == 2 and probes[0]["input"] != probes[1]["input"]
    for p in probes:
        first, values, pair = p["input"].split("\n")[:3]
        assert first == "4" and pair == "2 3" and p["output"] is None
        a, b, c, d = map(int, values.split())
        assert a == c and a < d < b <= 10**9 and b > 10**8  # order and equality kept, the max near the bound
    one_line = wide_probes({"problem_id": "x", "statement": "1 <= K <= N <= 10^18"}, [_stdin("10 3\n")], 1)
    n, k = map(int, one_line[0]["input"].split())
    assert 3 < k < n <= 10**18  # a one-line input's values grow together, K <= N kept
    assert wide_probes({"problem_id": "x", "statement": "no constraints"}, [example], 2) == []


def test_wide_functional_probe_widens_lists_and_keeps_scalars():
    example = {"input": "[5, 9, 5]\n2", "output": "1", "testtype": "functional"}
    probes = wide_probes({"problem_id": "f", "statement": "1 <= nums[i] <= 10^9\n1 <= k <= 3"}, [example], 1)
    nums, k = [json.loads(line) for line in probes[0]["input"].split("\n")]
    assert k == 2 and nums[0] == nums[2] < nums[1] <= 10**9
    assert probe_tests({"problem_id": "f", "statement": "1 <= nums[i] <= 10^9"}, [example], 2, 0, 1)[-1] == probes[0]
