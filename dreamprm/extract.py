"""Getting the program out of a model's answer, and joining a rollout onto its prefix.

:func:`extract_code` applies the first rule that yields code, and says which one (``ExtractResult.rule``):

1. ``fenced_python``: the last *closed* fenced block (a line opening with three or more backticks, up to the next
   line made of at least as many backticks) whose info string is a Python tag (``python``, ``py``, ``python3``,
   ``Python``, ...).
2. ``fenced_any``: else the last closed fenced block with any other or no info string.
3. ``unterminated_fence``: else, when there is an opening fence with no closing line (the answer was cut off at
   ``max_tokens``), everything after the last opening fence line.
4. ``whole_text``: else (no fence at all) the whole text, when it parses as Python and contains more than bare
   names/constants (so "Sure." or "42" is not taken for a program).
5. ``code_region``: else the longest region that starts at one of the first few lines that look like code (``def``,
   ``class``, ``import``, ``from``, ``@``, ``if __name__``) and ends at a line break, that parses as Python.
6. ``none``: no code; ``code`` is ``""``. The caller records the sample as failed ("no code").

Code from rules 1-3 is returned as written, without its fence lines; it may still fail to parse (rule 3 in
particular): the sandbox reports that as a syntax error. ``ExtractResult.parses`` says whether it parses.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE_OPEN = re.compile(r"^[ \t]{0,3}(`{3,})[ \t]*([^`\r\n]*?)[ \t]*$")
_PY_TAGS = {"python", "py", "python3", "py3", "python 3", "python2", "ipython", "pycon"}
_CODE_START = re.compile(r"^(?:def |async def |class |import |from \S+ import |@|if __name__)")
_MAX_REGION_STARTS = 5
_UNIT_START = re.compile(r"^(?:def |async def |class |@)")


@dataclass(frozen=True)
class ExtractResult:
    """The extracted program and the rule that produced it (``fenced_python`` | ``fenced_any`` |
    ``unterminated_fence`` | ``whole_text`` | ``code_region`` | ``none``)."""

    code: str
    rule: str

    @property
    def found(self) -> bool:
        return self.rule != "none" and bool(self.code.strip())

    @property
    def parses(self) -> bool:
        return _parses(self.code)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _is_program(code: str) -> bool:
    """Parses, and has at least one statement that is more than a bare name or constant."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, (ast.Name, ast.Constant))) for node in tree.body
    )


def _fenced_blocks(lines: list[str]) -> tuple[list[tuple[str, str]], str | None]:
    """Closed blocks as (info string, body), and the body of a trailing unclosed block (or None)."""
    blocks: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i].rstrip("\r\n"))
        if not m:
            i += 1
            continue
        ticks, info = m.group(1), m.group(2).strip()
        closing = re.compile(r"^[ \t]{0,3}`{" + str(len(ticks)) + r",}[ \t]*$")
        j = i + 1
        while j < len(lines) and not closing.match(lines[j].rstrip("\r\n")):
            j += 1
        body = "".join(lines[i + 1 : j])
        if j >= len(lines):
            return blocks, body
        blocks.append((info, body))
        i = j + 1
    return blocks, None


def _is_python_tag(info: str) -> bool:
    tag = info.split()[0].lower() if info.split() else ""
    return tag in _PY_TAGS or info.strip().lower() in _PY_TAGS


def _code_region(text: str) -> str | None:
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)][:_MAX_REGION_STARTS]
    for s in starts:
        for e in range(len(lines), s, -1):
            region = "".join(lines[s:e])
            if _is_program(region):
                return region
    return None


def extract_code(text: str | None) -> ExtractResult:
    """The program in a model answer, by the first rule of the module doc that applies."""
    if not text or not text.strip():
        return ExtractResult("", "none")
    lines = text.splitlines(keepends=True)
    blocks, unclosed = _fenced_blocks(lines)
    python_blocks = [body for info, body in blocks if _is_python_tag(info)]
    if python_blocks:
        return ExtractResult(python_blocks[-1], "fenced_python")
    if blocks:
        return ExtractResult(blocks[-1][1], "fenced_any")
    if unclosed is not None:
        return ExtractResult(unclosed, "unterminated_fence")
    if _is_program(text):
        return ExtractResult(text, "whole_text")
    region = _code_region(text)
    if region is not None:
        return ExtractResult(region, "code_region")
    return ExtractResult("", "none")


def _norm_lines(code: str) -> list[str]:
    return [line.rstrip() for line in code.splitlines()]


def join_rollout(prefix: str, generated: str) -> tuple[str, str]:
    """The program a rollout stands for, from the step prefix it was asked to continue and the code extracted from
    its answer. Returns (program, rule):

    - ``kept``: the generated code starts with the prefix's lines (compared with trailing whitespace stripped, blank
      lines at the start ignored): program = prefix + the generated code after those lines. The prefix is kept
      byte-for-byte, so the rollout really continues that prefix.
    - ``appended``: the generated code does not contain the prefix's first code line, its first code line is
      indented (it goes on with the open function body) or starts a new ``def``/``class``/decorator, and
      ``prefix + generated`` parses: the model wrote only the continuation; program = prefix + generated.
    - ``rewritten``: otherwise the model changed the prefix; program = the generated code as is. The labeler may count
      it or treat it as a failed rollout.
    - ``empty``: no generated code; program = the prefix alone.
    """
    if not generated.strip():
        return prefix, "empty"
    gen_lines = generated.splitlines(keepends=True)
    first = 0
    while first < len(gen_lines) and not gen_lines[first].strip():
        first += 1
    pre = _norm_lines(prefix)
    while pre and not pre[0]:
        pre.pop(0)
    body = [line.rstrip() for line in gen_lines[first:]]
    if pre and body[: len(pre)] == pre:
        rest = "".join(gen_lines[first + len(pre) :])
        sep = "" if prefix.endswith(("\n", "\r")) or not rest else "\n"
        return prefix + sep + rest, "kept"
    first_code = next((line for line in pre if line.strip()), None)
    gen_first = next((line for line in body if line.strip() and not line.lstrip().startswith("#")), "")
    continues = gen_first[:1] in (" ", "\t") or _UNIT_START.match(gen_first) is not None
    if first_code is not None and continues and first_code.strip() not in {line.strip() for line in body}:
        sep = "" if prefix.endswith(("\n", "\r")) or not prefix else "\n"
        joined = prefix + sep + generated
        if _parses(joined):
            return joined, "appended"
    return generated, "rewritten"


__all__ = ["ExtractResult", "extract_code", "join_rollout"]
