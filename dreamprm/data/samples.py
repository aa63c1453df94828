"""Sample tests parsed from a problem statement.

Recorded LiveCodeBench generation files carry the statement but no tests, and majority vote needs inputs to run the
candidates on (their outputs are the execution signature). The statements hold the examples in two fixed layouts:

- AtCoder / Codeforces (stdin): ``Sample Input k`` followed by the input block, ``Sample Output k`` followed by the
  output block. The output block ends at the first blank line (an explanation follows it in LiveCodeBench's text), so
  an expected output that itself holds a blank line is cut there; the input block ends at ``Sample Output k``.
- LeetCode (functional): ``Example k:`` with ``Input: a = [1,2], b = "x"`` and ``Output: 3``. The arguments are
  matched by name to the parameters of the starter code's method and written one JSON value per line, the functional
  test format of LiveCodeBench. An example whose names do not match the signature, or whose values are not JSON (nor
  Python literals), is skipped.

Only what parses is returned; nothing is guessed. Expected outputs matter little for majority vote (only what the
candidates print is compared), but they are kept so the tests are ordinary harness tests.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Mapping

_STDIN_SAMPLE = re.compile(
    r"Sample Input\s*(\d*)[^\S\n]*\r?\n(?P<inp>.*?)\r?\n\s*Sample Output\s*\1[^\S\n]*\r?\n(?P<out>.*?)"
    r"(?=\r?\n\s*\r?\n|\r?\n\s*Sample Input|\Z)", re.S)
_BLOCK = re.compile(r"(?P<pad>(?:[^\S\n]*\r?\n)*)(?P<out>.*?)(?=\r?\n\s*\r?\n|\r?\n\s*Sample Input|\Z)", re.S)
_EXAMPLE = re.compile(r"Input:\s*(?P<inp>.*?)\s*\r?\n\s*Output:\s*(?P<out>.*?)\s*(?:\r?\n|\Z)", re.S)
_ARG_NAME = re.compile(r"(?:^|,\s*)([A-Za-z_]\w*)\s*=\s*")


def _literal(text: str) -> Any:
    text = text.strip().rstrip(",").strip()
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def _parameters(starter_code: str, func_name: str) -> list[str] | None:
    """The parameter names (without ``self``) of ``func_name`` in the starter code, or None if it cannot be read."""
    src = starter_code.rstrip()
    for body in ("", "\n        pass", "\n    pass"):
        try:
            tree = ast.parse(src + body)
            break
        except SyntaxError:
            continue
    else:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == func_name:
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            return names[1:] if names and names[0] == "self" else names
    return None


def _split_arguments(text: str) -> dict[str, str] | None:
    """``a = [1, 2], b = "x,y"`` -> {"a": "[1, 2]", "b": '"x,y"'}: cut at the ``name =`` marks."""
    marks = list(_ARG_NAME.finditer(text))
    if not marks or marks[0].start() != 0:
        return None
    out = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out[m.group(1)] = text[m.end():end]
    return out


def _leading_blank_lines(text: str) -> int:
    stripped = text.lstrip(" \t\r\n")
    return text[: len(text) - len(stripped)].count("\n")


def stdin_samples(statement: str) -> list[dict]:
    tests = []
    for m in _STDIN_SAMPLE.finditer(statement):
        inp = m.group("inp").replace("\r\n", "\n").strip("\n")
        out = m.group("out").replace("\r\n", "\n").strip("\n")
        if not out.strip():  # an empty output, or an output block after as many blank lines as the input's
            block = _BLOCK.match(statement, m.start("out"))
            if block and block.group("out").strip() and \
                    block.group("pad").count("\n") == _leading_blank_lines(m.group("inp")):
                out = block.group("out").replace("\r\n", "\n").strip("\n")
        if inp.strip():
            tests.append({"input": inp + "\n", "output": out + "\n", "testtype": "stdin"})
    return tests


def functional_samples(statement: str, starter_code: str, func_name: str) -> list[dict]:
    params = _parameters(starter_code, func_name)
    if not params:
        return []
    tests = []
    for m in _EXAMPLE.finditer(statement):
        args = _split_arguments(m.group("inp").strip())
        if args is None or list(args) != params:
            continue
        try:
            values = [_literal(args[name]) for name in params]
            expected = _literal(m.group("out"))
        except (ValueError, SyntaxError):
            continue
        tests.append({"input": "\n".join(json.dumps(v) for v in values), "output": json.dumps(expected),
                      "testtype": "functional"})
    return tests


def sample_tests(problem: Mapping[str, Any]) -> list[dict]:
    """The examples of ``problem``'s statement as harness tests (functional when it has a ``func_name``)."""
    statement = str(problem.get("statement") or "")
    func_name = problem.get("func_name") or ""
    if func_name and problem.get("test_type", "functional") != "stdin":
        return functional_samples(statement, str(problem.get("starter_code") or ""), str(func_name))
    return stdin_samples(statement)
