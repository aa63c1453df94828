"""Fixtures for the fetch-stage tests: a tiny local LiveCodeBench release folder built in tmp."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest


def lcb_record(qid: str, date: str, *, functional: bool = False, compressed: bool = False,
               difficulty: str = "easy") -> dict:
    ttype = "functional" if functional else "stdin"
    public = [{"input": "1 2\n" if not functional else "1\n2", "output": "3\n" if not functional else "3",
               "testtype": ttype}]
    private = [{"input": "2 2\n" if not functional else "2\n2", "output": "4\n" if not functional else "4",
                "testtype": ttype}]
    private_text = json.dumps(private)
    if compressed:
        private_text = base64.b64encode(zlib.compress(pickle.dumps(private_text))).decode()
    return {
        "question_title": f"title {qid}", "question_content": f"Add two numbers ({qid}).",
        "platform": "leetcode" if functional else "atcoder", "question_id": qid, "contest_id": "c1",
        "contest_date": date, "starter_code": "class Solution:\n    def add(self, a, b):\n" if functional else "",
        "difficulty": difficulty, "public_test_cases": json.dumps(public), "private_test_cases": private_text,
        "metadata": json.dumps({"func_name": "add"} if functional else {}),
    }


def write_release_folder(root: Path) -> Path:
    """test.jsonl (v1, 2 problems), test2.jsonl (v2, 1 problem with compressed private tests), test3..test6."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "test.jsonl": [lcb_record("abc100_a", "2023-06-01T00:00:00"),
                       lcb_record("3001", "2023-07-01T12:00:00", functional=True)],
        "test2.jsonl": [lcb_record("abc300_b", "2024-04-01T00:00:00", compressed=True, difficulty="medium")],
        "test3.jsonl": [lcb_record("abc350_c", "2024-06-01T00:00:00", difficulty="hard")],
        "test4.jsonl": [lcb_record("abc370_c", "2024-08-01T18:30:00")],
        "test5.jsonl": [lcb_record("abc380_c", "2024-11-01T00:00:00")],
        "test6.jsonl": [lcb_record("abc390_c", "2025-02-01T00:00:00", compressed=True)],
    }
    for name, recs in files.items():
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in recs))
    return root


@pytest.fixture
def lcb_dir(tmp_path: Path) -> Path:
    return write_release_folder(tmp_path / "lcb")
