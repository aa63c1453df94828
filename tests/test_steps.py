"""The step splitter: property tests on generated programs whose function boundaries are known by construction."""

from __future__ import annotations

import ast
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dreamprm.steps import DEFAULT_MAX_STEPS, split_steps

# ---------------------------------------------------------------------------------------------------------------
# A program generator. Each piece is (text, cut offsets relative to the piece's start). Cuts are the ends of unit
# docstrings and unit functions (top-level functions and methods of class Solution), each just after a line break.

NAMES = st.sampled_from(["solve", "helper", "main", "check", "dfs", "count_pairs", "_aux", "f2"])
MODULE_LINES = st.sampled_from(
    ["import sys\n", "from typing import List\n", "X = 5\n", "# a comment\n", "\n", "sys.setrecursionlimit(10000)\n",
     "CACHE = {}\n", "'''module docstring'''\n"]
)
TRAILING = st.sampled_from(["", "main()\n", "\nif __name__ == '__main__':\n    main()\n", "# end\n", "\n\n",
                            "print(solve())\n", "x = 1"])


@st.composite
def docstrings(draw, indent: str) -> str:
    kind = draw(st.sampled_from(["one", "multi", "single_quotes", "comment_after"]))
    if kind == "one":
        return f'{indent}"""Do the thing with a strategy."""\n'
    if kind == "multi":
        return f'{indent}"""Do the thing.\n\n{indent}Strategy: binary search on the answer.\n{indent}"""\n'
    if kind == "single_quotes":
        return f"{indent}'docstring in single quotes'\n"
    return f'{indent}"""Docstring."""  # trailing comment\n'


@st.composite
def bodies(draw, indent: str) -> str:
    """Statements of a function body; the last line is a statement (so the function's end is the body's end)."""
    options = [
        f"{indent}x = 1\n",
        f"{indent}# thinking\n{indent}y = [i for i in range(3)]\n",
        f"{indent}if True:\n{indent}    z = 2\n{indent}else:\n{indent}    z = 3\n",
        f"{indent}for i in range(2):\n{indent}    pass\n",
        f"{indent}def nested(a):\n{indent}    \"\"\"A nested helper: not a step.\"\"\"\n{indent}    return a\n",
        f"{indent}s = '''multi\nline string'''\n",
        f"{indent}lam = lambda q: q + 1\n",
    ]
    lines = draw(st.lists(st.sampled_from(options), min_size=0, max_size=3))
    return "".join(lines) + f"{indent}return None\n"


@st.composite
def functions(draw, indent: str = "", method: bool = False) -> tuple[str, list[int]]:
    text = ""
    for _ in range(draw(st.integers(0, 2))):
        text += indent + draw(st.sampled_from(["@staticmethod\n" if method else "@lru_cache(None)\n", "@dec\n"]))
    prefix = draw(st.sampled_from(["def", "async def"]))
    args = "(self, a)" if method else "(a, b=2)"
    text += f"{indent}{prefix} {draw(NAMES)}{args}:\n"
    cuts = []
    if draw(st.booleans()):
        if draw(st.booleans()):
            text += f"{indent}    # a comment before the docstring\n"
        text += draw(docstrings(indent + "    "))
        cuts.append(len(text))
    text += draw(bodies(indent + "    "))
    cuts.append(len(text))
    return text, cuts


@st.composite
def solution_classes(draw) -> tuple[str, list[int]]:
    text = "class Solution:\n"
    if draw(st.booleans()):
        text += '    """The class docstring is not a step."""\n'
    if draw(st.booleans()):
        text += "    LIMIT = 10\n"
    cuts: list[int] = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            text += "\n"
        fn, fn_cuts = draw(functions(indent="    ", method=True))
        cuts.extend(len(text) + c for c in fn_cuts)
        text += fn
    return text, cuts


OTHER_CLASS = (
    "class UnionFind:\n"
    '    """Not Solution: its methods are not steps."""\n'
    "    def find(self, x):\n"
    '        """Find the root."""\n'
    "        return x\n"
)


@st.composite
def programs(draw) -> tuple[str, list[int]]:
    """A program and its expected cut candidates (before dropping the last unit's end and applying K)."""
    pieces = draw(
        st.lists(
            st.one_of(
                MODULE_LINES.map(lambda s: (s, [])),
                functions(),
                solution_classes(),
                st.just((OTHER_CLASS, [])),
            ),
            min_size=0,
            max_size=14,
        )
    )
    text, cuts = "", []
    for piece, piece_cuts in pieces:
        if text and not text.endswith("\n\n") and draw(st.booleans()):
            text += "\n"
        cuts.extend(len(text) + c for c in piece_cuts)
        text += piece
    text += draw(TRAILING)
    return text, sorted(set(cuts))


def check_invariants(code: str, split, k: int) -> None:
    offs = split.offsets
    assert offs[0] == 0 and offs[-1] == len(code)
    assert "".join(split.steps) == code
    assert 1 <= len(split) <= k
    if code:
        assert all(a < b for a, b in itertools.pairwise(offs)), offs  # prefixes strictly grow
    prefixes = split.prefixes
    assert prefixes[-1] == code
    assert all(p == code[: len(p)] for p in prefixes)
    for o in offs[1:-1]:  # every intermediate prefix is made of whole lines
        assert code[o - 1] in "\r\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(1, 12))
def test_steps_on_generated_programs(program, k):
    code, candidates = program
    ast.parse(code)  # the generator only makes valid programs
    split = split_steps(code, k=k)
    assert split.rule == "ast"
    check_invariants(code, split, k)
    expected = [c for c in candidates[:-1] if 0 < c < len(code)]  # the last unit's end gives way to the program
    assert split.num_candidates == len(expected)
    inner = list(split.offsets[1:-1])
    if len(expected) <= k - 1:
        assert inner == expected
    else:
        assert len(inner) == k - 1
        assert set(inner) <= set(expected)  # every cut is a function boundary


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("def class Solution:@()\"'#\n\r\t xy=.")), max_size=300),
       st.integers(1, 12))
def test_steps_never_break_on_arbitrary_text(code, k):
    split = split_steps(code, k=k)
    check_invariants(code, split, k)


@settings(max_examples=100, deadline=None)
@given(programs(), st.integers(1, 12))
def test_steps_on_programs_that_do_not_parse(program, k):
    code, _ = program
    broken = code + "\ndef broken(:\n    pass\n"
    split = split_steps(broken, k=k)
    assert split.rule == "regex"
    check_invariants(broken, split, k)


COF = '''import sys


def main():
    """Read, solve, print."""
    n = read()
    print(solve(n))


@decorator
def read():
    """Parse one integer."""
    return int(sys.stdin.readline())


def solve(n):
    """Sum 1..n by formula."""
    def inner(x):
        """Nested: not a step."""
        return x
    return inner(n * (n + 1) // 2)


main()
'''


def test_steps_cof_example_exact():
    split = split_steps(COF)
    steps = split.steps
    assert split.rule == "ast"
    assert len(steps) == 6
    assert steps[0].endswith('"""Read, solve, print."""\n') and steps[0].startswith("import sys")
    assert steps[1] == "    n = read()\n    print(solve(n))\n"
    assert steps[2] == '\n\n@decorator\ndef read():\n    """Parse one integer."""\n'
    assert steps[3] == "    return int(sys.stdin.readline())\n"
    assert steps[4] == '\n\ndef solve(n):\n    """Sum 1..n by formula."""\n'
    assert steps[5].startswith("    def inner(x):") and steps[5].endswith("\n\nmain()\n")  # trailing code: last step


def test_steps_solution_methods_and_crlf():
    code = (
        "class Solution:\r\n"
        "    def twoSum(self, nums, target):\r\n"
        '        """Hash map of seen values."""\r\n'
        "        return self.find(nums, target)\r\n"
        "    def find(self, nums, target):\r\n"
        '        """Linear scan."""\r\n'
        "        return [0, 1]\r\n"
    )
    split = split_steps(code)
    assert "".join(split.steps) == code
    assert len(split) == 4
    assert split.steps[0].endswith('"""Hash map of seen values."""\r\n')
    assert split.steps[2].endswith('"""Linear scan."""\r\n')


def test_steps_k_limit_keeps_evenly_spaced_and_full_program_last():
    code = "".join(f'def f{i}():\n    """Doc {i}."""\n    return {i}\n' for i in range(12))  # 23 candidates
    split = split_steps(code, k=DEFAULT_MAX_STEPS)
    assert split.num_candidates == 23
    assert len(split) == 10
    assert split.prefixes[-1] == code
    gaps = [b - a for a, b in zip(split.offsets, split.offsets[1:])]
    assert max(gaps) <= 3 * min(gaps)  # roughly even
    assert len(split_steps(code, k=1)) == 1


def test_steps_edge_cases():
    assert split_steps("").offsets == (0, 0)
    assert split_steps("print(1)\n").steps == ["print(1)\n"]
    one = 'def f():\n    """Only a docstring."""\n'
    assert split_steps(one).steps == [one]  # docstring end == function end: one step
    with pytest.raises(ValueError):
        split_steps("x = 1", k=0)


def test_steps_regex_fallback_rule():
    code = "import os\ndef a(:\n    pass\n\ndef b():\n    return 1\nclass Solution:\n    def m(self):\n        x = (\n"
    split = split_steps(code)
    assert split.rule == "regex"
    assert split.steps == ["import os\ndef a(:\n    pass\n\n", "def b():\n    return 1\n",
                           "class Solution:\n    def m(self):\n        x = (\n"]
    assert split_steps("this is not python at all").steps == ["this is not python at all"]
