"""Prompts for the policy: Chain-of-Function (CoF) prompts, the plain LiveCodeBench-style baseline, and rollout prompts.

A prompt is built for one problem row (columns of :data:`dreamprm.data.schema.PROBLEM_COLUMNS`). Three *modes*, picked
from the row by :func:`problem_mode`:

- ``stdin``: the program reads standard input and prints (LiveCodeBench AtCoder/Codeforces problems);
- ``leetcode``: functional tests with a ``class Solution`` starter (LiveCodeBench LeetCode problems);
- ``function``: write a named top-level function (HumanEval/MBPP, ``assert`` tests; functional tests without a class).

Two *styles*: ``cof`` puts the mode's Chain-of-Function instructions (rules + worked example, see PAPER.md stage 2)
before the plain prompt; ``plain`` is the plain prompt alone (the non-CoF baseline). A *rollout* prompt
(``code_prefix=...``) shows a code prefix as the starter code and asks the model to continue it (PAPER.md stage 4).

The templates are the files in ``templates/``; :data:`PROMPT_VERSION` is the series name in ``templates/SERIES`` plus a
hash of every template's bytes, so editing any template changes the version and thus every cache key that includes it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jinja2

from dreamprm.policy.base import ChatMessage, ChatPrompt

TEMPLATE_DIR = Path(__file__).parent / "templates"
Mode = Literal["stdin", "leetcode", "function"]
Style = Literal["cof", "plain"]
MODES: tuple[str, ...] = ("stdin", "leetcode", "function")
STYLES: tuple[str, ...] = ("cof", "plain")


def prompt_version(template_dir: Path | None = None) -> str:
    """``<series>+<sha256 of the templates>[:12]``: the series name from ``SERIES`` and a hash over every template
    file's name and bytes (sorted by name). Any edit to any template gives a new version."""
    template_dir = Path(template_dir or TEMPLATE_DIR)
    h = hashlib.sha256()
    for path in sorted(template_dir.iterdir()):
        if path.is_file() and (path.suffix == ".jinja" or path.name == "SERIES"):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    series_file = template_dir / "SERIES"
    series = series_file.read_text().strip() if series_file.is_file() else "unversioned"
    return f"{series}+{h.hexdigest()[:12]}"


PROMPT_VERSION: str = prompt_version()


@lru_cache(maxsize=8)
def _environment(template_dir: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def _render(template_dir: Path, name: str, **context: Any) -> str:
    return _environment(str(template_dir)).get_template(name).render(**context).strip()


def _field(problem: Mapping[str, Any], key: str) -> str:
    value = problem.get(key, "")
    if value is None or (isinstance(value, float) and math.isnan(value)):  # None or NaN from pandas
        return ""
    return str(value)


def problem_mode(problem: Mapping[str, Any]) -> Mode:
    """Which prompt family fits the row: ``leetcode`` for functional tests whose starter code (or platform) is a
    ``class Solution``; ``function`` for ``assert`` tests and functional tests without a class; ``stdin`` otherwise."""
    test_type = _field(problem, "test_type")
    starter = _field(problem, "starter_code")
    if test_type == "functional":
        if "class Solution" in starter or (not starter.strip() and _field(problem, "platform") == "leetcode"):
            return "leetcode"
        return "function"
    if test_type == "assert":
        return "function"
    return "stdin"


def build_prompt(
    problem: Mapping[str, Any],
    *,
    style: Style = "cof",
    code_prefix: str | None = None,
    template_dir: Path | None = None,
) -> ChatPrompt:
    """The chat prompt (system + user) for one problem row.

    ``style="cof"``: the Chain-of-Function instructions for the row's mode, then the plain prompt; ``"plain"``: the
    plain prompt only. ``code_prefix``: a rollout prompt; the prefix replaces the starter code and the model is asked
    to continue it (its answer should be the whole program, starting with the prefix; see
    :func:`dreamprm.extract.join_rollout`). The returned prompt's ``kind`` is ``[rollout_]<style>_<mode>`` and its
    ``prompt_version`` the version of the templates used.
    """
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {STYLES}")
    template_dir = Path(template_dir or TEMPLATE_DIR)
    mode = problem_mode(problem)
    statement = _field(problem, "statement")
    starter = _field(problem, "starter_code")
    func_name = _field(problem, "func_name")
    if not statement.strip() and not starter.strip():
        raise ValueError(f"problem {_field(problem, 'problem_id')!r} has neither a statement nor starter code")
    context = {
        "statement": statement.strip("\n"),
        "starter_code": starter.strip("\n").rstrip(),
        "func_name": func_name,
        "code_prefix": code_prefix.rstrip("\n") if code_prefix is not None else None,
        # HumanEval rows may carry the signature+docstring as both statement and starter code: show it once.
        # (Not in rollout prompts: there the starter slot holds the prefix, so the statement must be shown.)
        "statement_is_code": bool(starter.strip()) and statement.strip() == starter.strip() and code_prefix is None,
    }
    parts = []
    if style == "cof":
        parts.append(_render(template_dir, f"cof_{mode}.jinja", **context))
    parts.append(_render(template_dir, f"plain_{mode}.jinja", **context))
    user = "\n\n".join(parts) + "\n\n"
    system = _render(template_dir, "system.jinja", **context)
    version = PROMPT_VERSION if template_dir == TEMPLATE_DIR else prompt_version(template_dir)
    kind = f"{'rollout_' if code_prefix is not None else ''}{style}_{mode}"
    return ChatPrompt(
        messages=(ChatMessage("system", system), ChatMessage("user", user)),
        problem_id=_field(problem, "problem_id"),
        kind=kind,
        prompt_version=version,
        code_prefix=code_prefix,
    )


def answer_opening(problem: Mapping[str, Any], *, style: Style = "cof",
                   template_dir: Path | None = None) -> str | None:
    """The start of the answer, for backends that continue a prefilled assistant turn: ``templates/<style>_<mode>
    _opening.jinja`` rendered for the row, or None where the mode has none.

    Why: a code stub in the prompt (HumanEval's signature + docstring) anchors a small model to one function, whatever
    the instructions say; measured on training-side HumanEval problems with Qwen2.5-Coder-0.5B, the CoF prompt alone
    gave 0 of 24 candidates with two or more functions, the same prompt with this opening (a fence, the imports
    HumanEval stubs use, a comment putting the helpers first, then ``def``) 10 of 16, at the same pass rate. It is
    a template file, so it is part of :data:`PROMPT_VERSION` and of every generation cache key.
    """
    template_dir = Path(template_dir or TEMPLATE_DIR)
    name = f"{style}_{problem_mode(problem)}_opening.jinja"
    if not (template_dir / name).is_file():
        return None
    # Keep the trailing "def": the model continues with " name(...)".
    return _render(template_dir, name, func_name=_field(problem, "func_name")).rstrip(" ")


def build_rollout_prompt(
    problem: Mapping[str, Any], code_prefix: str, *, style: Style = "cof", template_dir: Path | None = None
) -> ChatPrompt:
    """Shorthand for ``build_prompt(problem, style=style, code_prefix=code_prefix)``."""
    return build_prompt(problem, style=style, code_prefix=code_prefix, template_dir=template_dir)


__all__ = [
    "MODES",
    "PROMPT_VERSION",
    "STYLES",
    "TEMPLATE_DIR",
    "answer_opening",
    "build_prompt",
    "build_rollout_prompt",
    "problem_mode",
    "prompt_version",
]
