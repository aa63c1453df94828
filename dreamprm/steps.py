"""Function-as-step decomposition (PAPER.md stage 3).

A program is cut into growing prefixes; step ``i`` is ``code[offsets[i]:offsets[i + 1]]``, so the steps concatenate
back to the code exactly and prefix ``i`` is ``code[:offsets[i + 1]]``. The last prefix is always the whole program.

Where the cuts go (``rule="ast"``, the code parses):

- The *units* are the top-level ``def``/``async def`` functions and the ``def``/``async def`` methods written directly
  in the body of a top-level ``class Solution``. Nested functions, methods of other classes, and decorators are not
  units of their own: they stay inside the step of the unit (or the code) around them.
- Each unit gives up to two cut points: the end of its docstring (when its body opens with a string literal) and its
  own end (the last line of its last statement). A cut is always placed at the end of that line, after the line break,
  so every prefix is made of whole lines (a comment on the docstring's closing line stays with the docstring).
- Code before the first unit (imports, constants) belongs to the first step; code between units belongs to the step
  that follows it; code after the last unit (``main()``, ``if __name__ == "__main__": ...``, comments, blank lines)
  belongs to the last step. That is, the end of the last unit is not a cut: the whole program takes its place.
- At most ``k`` steps (default 10). With more cut points than ``k - 1``, the ``k - 1`` kept are evenly spaced by rank
  among the candidates (the ``j``-th kept is candidate ``round((j + 1) * m / k) - 1`` of ``m``, ``j = 0 .. k - 2``); the
  whole program is always the last prefix.

When the code does not parse (``rule="regex"``): a cut is placed before every line that starts a top-level ``def``,
``async def``, ``class`` or decorator (column 0), and before every ``def`` line (or its decorators) inside a column-0
``class Solution`` block at the indentation of that block's first ``def``, except that first one (it stays with the
class line). The cut before the first such line is dropped
(leading code belongs to the first step). Docstring ends are not detected. The same ``k`` rule applies. With no such
line the whole program is one step.
"""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass

DEFAULT_MAX_STEPS = 10

_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class StepSplit:
    """The steps of one program as character offsets: ``offsets[0] == 0``, ``offsets[-1] == len(code)``, strictly
    increasing (a single ``(0, 0)`` pair for empty code). ``rule`` is ``"ast"`` or ``"regex"`` (see the module doc);
    ``num_candidates`` is how many cut points were found before the ``k`` limit was applied."""

    code: str
    offsets: tuple[int, ...]
    rule: str
    num_candidates: int

    @property
    def steps(self) -> list[str]:
        """The step texts; ``"".join(steps) == code``."""
        return [self.code[a:b] for a, b in zip(self.offsets, self.offsets[1:])]

    @property
    def prefixes(self) -> list[str]:
        """The growing prefixes; the last is the whole program."""
        return [self.code[:b] for b in self.offsets[1:]]

    @property
    def ends(self) -> list[int]:
        """The end offset of each step (``offsets[1:]``)."""
        return list(self.offsets[1:])

    def __len__(self) -> int:
        return len(self.offsets) - 1


def _line_starts(code: str) -> list[int]:
    """Offset of the first character of each line (1-based line n starts at ``starts[n - 1]``); the last entry is
    always ``len(code)``, so line n spans ``starts[n - 1]:starts[n]``. Line breaks are ``\\r\\n``, ``\\r`` and ``\\n``, as for the Python tokenizer."""
    starts = [0]
    starts.extend(m.end() for m in _NEWLINE.finditer(code))
    if starts[-1] != len(code):
        starts.append(len(code))
    return starts


def _unit_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    units: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            units.append(node)
        elif isinstance(node, ast.ClassDef) and node.name == "Solution":
            units.extend(n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return units


def _docstring_node(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Expr | None:
    first = fn.body[0] if fn.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def _ast_cuts(code: str) -> list[int] | None:
    """Candidate cut offsets from the AST, or None when the code does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    starts = _line_starts(code)

    def after_line(lineno: int) -> int:  # offset just past line ``lineno`` (1-based) and its line break
        return starts[lineno] if lineno < len(starts) else len(code)

    cuts: set[int] = set()
    for fn in _unit_functions(tree):
        doc = _docstring_node(fn)
        if doc is not None and doc.end_lineno is not None:
            cuts.add(after_line(doc.end_lineno))
        if fn.end_lineno is not None:
            cuts.add(after_line(fn.end_lineno))
    return sorted(cuts)


_TOP_START = re.compile(r"(?:@|(?:async[ \t]+)?def[ \t]|class[ \t])")
_INDENTED_DEF = re.compile(r"([ \t]+)(?:@|(?:async[ \t]+)?def[ \t])")
_SOLUTION = re.compile(r"class[ \t]+Solution\b")


def _regex_cuts(code: str) -> list[int]:
    """Cut offsets for code that does not parse: before top-level def/class/decorator lines and before the method
    lines of a top-level ``class Solution`` except its first (see the module doc). A decorator block and the def it
    decorates get one cut, before the decorators."""
    starts = _line_starts(code)
    cuts: list[int] = []
    in_solution = False
    method_indent: str | None = None
    after_decorator = False  # the previous code line was a decorator of a unit
    for start, end in itertools.pairwise(starts):
        line = code[start:end].rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        unit_start = False  # this line starts a unit (or its decorator block)
        cut_here = True
        if line[0] not in " \t":
            in_solution = bool(_SOLUTION.match(line))
            method_indent = None
            unit_start = bool(_TOP_START.match(line))
        elif in_solution:
            m = _INDENTED_DEF.match(line)
            if m and method_indent is None:
                method_indent = m.group(1)
                unit_start, cut_here = True, False  # the first method stays with the class header
            elif m and m.group(1) == method_indent:
                unit_start = True
        if unit_start and cut_here and not after_decorator:
            cuts.append(start)
        after_decorator = unit_start and line.lstrip().startswith("@")
    return cuts[1:]


def _keep_evenly(cuts: list[int], keep: int) -> list[int]:
    """``keep`` of the sorted ``cuts``, evenly spaced by rank (the rule in the module doc); all when few enough."""
    m = len(cuts)
    if m <= keep:
        return list(cuts)
    if keep <= 0:
        return []
    k = keep + 1
    # round-half-up of (j + 1) * m / k, in integers; strictly increasing because m >= k.
    return [cuts[((j + 1) * m * 2 + k) // (2 * k) - 1] for j in range(keep)]


def split_steps(code: str, k: int = DEFAULT_MAX_STEPS) -> StepSplit:
    """Cut ``code`` into at most ``k`` growing prefixes at function boundaries (rules in the module doc)."""
    if k < 1:
        raise ValueError(f"k (the maximum number of steps) must be >= 1, got {k}")
    cuts = _ast_cuts(code)
    if cuts is not None:
        rule = "ast"
        cuts = cuts[:-1]  # the last unit's end: the whole program (with any trailing code) replaces it
    else:
        rule = "regex"
        cuts = _regex_cuts(code)
    cuts = [c for c in cuts if 0 < c < len(code)]
    kept = _keep_evenly(cuts, k - 1)
    return StepSplit(code=code, offsets=(0, *kept, len(code)), rule=rule, num_candidates=len(cuts))


__all__ = ["DEFAULT_MAX_STEPS", "StepSplit", "split_steps"]
