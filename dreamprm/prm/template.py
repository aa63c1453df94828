"""The PRM's one input template, and the encoding that makes single-pass scoring exact.

An example is a problem and a candidate program cut into steps (consecutive pieces of the code: ``"".join(steps)`` is
the code, and step k's prefix is ``"".join(steps[:k + 1])``). It is encoded as::

    ids(header_before_problem, with the tokenizer's special tokens, e.g. BOS)
    + ids(statement)
    + ids(starter-code section)          (only when the problem has starter code the statement does not contain)
    + ids(header_after_problem)
    + ids(step_1) + [MARKER] + ids(step_2) + [MARKER] + ... + ids(step_K) + [MARKER]

Every piece is tokenized *on its own* and the ids are concatenated, so the ids of a prefix are exactly the first ids
of the whole sequence (tokenizing the joined text instead would let a BPE merge cross a step boundary and change
them). The score of step k is read at the k-th marker; with a causal backbone the hidden state there sees only its
prefix, so one forward pass over the whole sequence gives the same scores as one pass per prefix.

The marker is one existing token of the vocabulary (default: the tokenizer's eos token, ``<|im_end|>`` for
SmolLM2-Instruct), so no embedding has to be added or trained.

What the PRM reads is :class:`PRMInput`: the problem's statement, its starter code and the candidate's steps, built
by :meth:`PRMInput.from_problem` / :meth:`PRMInput.from_label_row`, the ONE builder that training, correction,
evaluation, rerank and the pyfunc model use. The policy's prompt (Chain-of-Function rules, worked example) never
enters it: a PRM trained on prompts and scored on statements would see two different inputs.

Overflow (more than ``max_length`` tokens): the code always gets its full budget first, then the starter code, and
only then the statement, which is cut from its END (its opening, where the task is stated, survives), with a logged
warning; the count of dropped problem tokens is recorded on the example. If the code alone does not fit,
:class:`CandidateTooLong` is raised; every caller handles it by one rule (:data:`TOO_LONG_RULE`): the candidate gets
no score (steps are never dropped silently).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dreamprm.errors import DreamPRMError, InputDataError
from dreamprm.steps import DEFAULT_MAX_STEPS, split_steps

log = logging.getLogger(__name__)

PROBLEM_SLOT = "{problem}"
DEFAULT_TEMPLATE = (
    "You are grading a partial solution to a programming problem, one step at a time.\n\n"
    "### Problem\n{problem}\n\n### Solution (Python)\n"
)


STARTER_HEADER = "\n\n### Starter code\n"
TOO_LONG_RULE = (
    "a candidate whose code alone exceeds the PRM's max_length gets no score (None); best-of-N picks it only when no "
    "candidate of its problem has a score, and the report counts such candidates"
)


class CandidateTooLong(DreamPRMError):
    """The code of a candidate does not fit into the PRM's context even with the problem statement dropped."""


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def starter_for_prm(statement: str, starter_code: str) -> str:
    """The starter code the PRM sees: none when it is blank or already part of the statement (HumanEval's prompt is
    both), so the same text is never encoded twice."""
    starter = starter_code.strip()
    if not starter or starter in statement:
        return ""
    return starter_code


def candidate_steps(code: str, max_steps: int = DEFAULT_MAX_STEPS) -> list[str]:
    """The steps of a candidate program (functions as steps, :func:`dreamprm.steps.split_steps`); code with no cut
    is one step."""
    steps = split_steps(code, k=max_steps).steps
    return steps if steps else [code]


@dataclass(frozen=True)
class PRMInput:
    """What the PRM reads about one candidate: the problem statement, the starter code it must complete (already
    reduced by :func:`starter_for_prm`) and the candidate's steps (``"".join(steps)`` is the code)."""

    statement: str
    steps: tuple[str, ...]
    starter_code: str = ""

    @classmethod
    def build(cls, statement: Any, starter_code: Any, *, code: str | None = None,
              steps: Sequence[str] | None = None, max_steps: int = DEFAULT_MAX_STEPS) -> PRMInput:
        """From the problem's fields and either the code (split here) or its steps."""
        stmt = _text(statement)
        if steps is None or isinstance(steps, str) or len(steps) == 0:
            if code is None:
                raise InputDataError("a PRM input needs the candidate's code or its steps", field="code")
            steps = candidate_steps(str(code), max_steps)
        return cls(stmt, tuple(str(x) for x in steps), starter_for_prm(stmt, _text(starter_code)))

    @classmethod
    def from_problem(cls, problem: Mapping[str, Any], *, code: str | None = None,
                     steps: Sequence[str] | None = None, max_steps: int = DEFAULT_MAX_STEPS) -> PRMInput:
        """From a problems-table row (``statement``, ``starter_code``)."""
        return cls.build(problem.get("statement"), problem.get("starter_code"), code=code, steps=steps,
                         max_steps=max_steps)

    @classmethod
    def from_label_row(cls, row: Mapping[str, Any], *, source: str | None = None) -> PRMInput:
        """From a step-label row (``statement``, ``starter_code``, ``completions``). A table written before the PRM
        input had these columns is an error that says to re-run the label stage."""
        if "statement" not in row:
            raise InputDataError("step-label rows lack the 'statement' column (written by an older label stage, "
                                 "whose 'prompt' held the policy's prompt); re-run `dreamprm label`",
                                 path=source, field="statement", expected="statement and starter_code columns")
        return cls.build(row.get("statement"), row.get("starter_code"), steps=list(row["completions"]))

    @property
    def problem_text(self) -> str:
        """The statement and starter code as the PRM's problem slot shows them (the TRL layout's ``prompt``)."""
        return self.statement + (STARTER_HEADER + self.starter_code if self.starter_code else "")


@dataclass
class EncodedExample:
    """Token ids of one (problem, steps) example and the positions of its step-end markers (one per step)."""

    input_ids: list[int]
    marker_positions: list[int]
    problem_tokens_dropped: int = 0
    prefix_length: int = 0  # ids before the first step (template + problem): shared by a problem's candidates

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_steps(self) -> int:
        return len(self.marker_positions)


def resolve_marker_id(tokenizer: Any, marker: str | None) -> tuple[str, int]:
    """The marker token and its id: ``marker`` if given, else the tokenizer's eos token. It must be exactly one
    token of the vocabulary."""
    token = marker if marker is not None else tokenizer.eos_token
    if token is None:
        raise ValueError(
            "the tokenizer has no eos token; set PRMConfig.step_marker to a token of its vocabulary"
        )
    tid = tokenizer.convert_tokens_to_ids(token)
    if (
        isinstance(tid, list)
        or tid is None
        or (tid == tokenizer.unk_token_id and token != tokenizer.unk_token)
    ):
        raise ValueError(f"step marker {token!r} is not a single token of the tokenizer's vocabulary")
    return token, int(tid)


class StepEncoder:
    """Encodes (problem, steps) with :data:`DEFAULT_TEMPLATE` (or another template with one ``{problem}`` slot)."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        template: str = DEFAULT_TEMPLATE,
        step_marker: str | None = None,
        max_length: int = 2048,
    ) -> None:
        if template.count(PROBLEM_SLOT) != 1:
            raise ValueError(f"the PRM template must contain {PROBLEM_SLOT} exactly once")
        if max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {max_length}")
        self.tokenizer = tokenizer
        self.template = template
        self.max_length = max_length
        self.marker, self.marker_id = resolve_marker_id(tokenizer, step_marker)
        before, _, after = template.partition(PROBLEM_SLOT)
        self._before = self._ids(before, special=True)
        self._after = self._ids(after, special=False)

    def _ids(self, text: str, *, special: bool = False) -> list[int]:
        if not text:
            if special:
                return list(self.tokenizer("", add_special_tokens=True)["input_ids"])
            return []
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def encode(self, problem: str | PRMInput, steps: Sequence[str] | None = None, *,
               starter_code: str = "") -> EncodedExample:
        """Encode one example; one marker after each step. ``problem`` is a :class:`PRMInput` (steps inside) or a
        statement string with ``steps``. Raises InputDataError for an empty step list."""
        if isinstance(problem, PRMInput):
            statement, starter_code, steps = problem.statement, problem.starter_code, problem.steps
        else:
            statement = problem
        if steps is None or isinstance(steps, str):
            raise TypeError("steps must be a sequence of step strings, not one string")
        if len(steps) == 0:
            raise InputDataError("empty step list: a candidate needs at least one step", field="steps")
        positions: list[int] = []
        step_ids = [self._ids(s) for s in steps]
        header_len = len(self._before) + len(self._after)
        code_len = sum(len(s) + 1 for s in step_ids)
        budget = self.max_length - header_len - code_len
        if budget < 0:
            raise CandidateTooLong(
                f"candidate too long for the PRM: {code_len} code tokens in {len(steps)} steps plus a "
                f"{header_len}-token template exceed max_length={self.max_length}"
            )
        # The code has its full budget; then the starter code; the statement takes what is left, cut from its end.
        starter_full = self._ids(STARTER_HEADER + starter_code) if starter_code else []
        starter_ids = starter_full[:budget]
        problem_ids = self._ids(statement)
        keep = budget - len(starter_ids)
        dropped = max(0, len(problem_ids) - keep) + len(starter_full) - len(starter_ids)
        problem_ids = problem_ids[:keep]
        if dropped:
            log.warning("PRM input over max_length=%d: dropped %d problem tokens from the end of the statement",
                        self.max_length, dropped)
        ids = self._before + problem_ids + starter_ids + self._after
        prefix_length = len(ids)
        for s in step_ids:
            ids.extend(s)
            positions.append(len(ids))
            ids.append(self.marker_id)
        return EncodedExample(input_ids=ids, marker_positions=positions, problem_tokens_dropped=dropped,
                              prefix_length=prefix_length)

    def encode_prefix(self, problem: str | PRMInput, steps: Sequence[str] | None, k: int, *,
                      starter_code: str = "") -> EncodedExample:
        """The example for the prefix made of the first ``k`` steps (1 <= k <= len(steps)): the first ids of the
        whole candidate's encoding, up to and including the k-th marker. The problem text is truncated as for the
        whole candidate, so a prefix scored on its own sees exactly what single-pass scoring sees."""
        full = self.encode(problem, steps, starter_code=starter_code)
        if not 1 <= k <= full.num_steps:
            raise ValueError(f"prefix length must be in [1, {full.num_steps}], got {k}")
        end = full.marker_positions[k - 1]
        return EncodedExample(input_ids=full.input_ids[: end + 1], marker_positions=full.marker_positions[:k],
                              problem_tokens_dropped=full.problem_tokens_dropped, prefix_length=full.prefix_length)


def steps_from_prefixes(prefixes: Sequence[str]) -> list[str]:
    """Turn growing prefixes (each one extends the previous one) into the step pieces that the PRM takes."""
    out: list[str] = []
    prev = ""
    for i, p in enumerate(prefixes):
        if not p.startswith(prev):
            raise InputDataError(f"prefix {i} does not extend prefix {i - 1}", field="steps")
        out.append(p[len(prev) :])
        prev = p
    return out
