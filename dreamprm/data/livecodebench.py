"""LiveCodeBench problems (code_generation_lite) by release, increment and date window.

Releases and their files (PAPER.md, "LiveCodeBench facts"):

=============  ==============================================
name           files
=============  ==============================================
release_v1     test.jsonl
release_v2     test.jsonl + test2.jsonl
...            ...
release_v6     test.jsonl + test2.jsonl + ... + test6.jsonl
release_latest the same as the newest release (release_v6)
v1 / test      test.jsonl only (the 400 problems of v1)
v2 / test2     test2.jsonl only (the problems new in v2)
...            ...
v6 / test6     test6.jsonl only (the 175 problems new in v6)
=============  ==============================================

Several names may be joined with commas (``"v5,v6"``). Files come from the Hugging Face hub (dataset
``livecodebench/code_generation_lite``) or from a local folder holding the same file names
(``DREAMPRM_LIVECODEBENCH__LOCAL_DIR``). Private tests are decoded from either encoding: plain JSON, or
``base64(zlib(pickle(json string)))`` (unpickled with a loader that accepts only plain strings, so a hostile file
cannot run code). Every malformed line raises :class:`~dreamprm.errors.InputDataError` naming file, line and field.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from dreamprm.data.schema import DIFFICULTIES, PROBLEM_COLUMNS
from dreamprm.errors import InputDataError, ServiceUnavailable

NEWEST = 6
RELEASE_FILES: dict[int, str] = {1: "test.jsonl", **{v: f"test{v}.jsonl" for v in range(2, NEWEST + 1)}}
LOCAL_DIR_ENV = "DREAMPRM_LIVECODEBENCH__LOCAL_DIR"
REQUIRED_FIELDS = ("question_id", "question_content", "platform", "contest_date", "difficulty",
                   "public_test_cases", "private_test_cases")


class HubUnavailable(ServiceUnavailable):
    """The Hugging Face hub cannot be reached (a network error: the flow retries these)."""


def release_names() -> list[str]:
    """Every accepted release / increment name."""
    names = [f"release_v{v}" for v in RELEASE_FILES] + ["release_latest", "latest"]
    names += [f"v{v}" for v in RELEASE_FILES] + [Path(f).stem for f in RELEASE_FILES.values()]
    return names


def release_versions(spec: str) -> list[int]:
    """The file versions (1..6) that a release spec names, in order. Unknown names raise with the valid list."""
    versions: list[int] = []
    for name in (part.strip() for part in spec.split(",")):
        key = name.lower()
        if key in ("release_latest", "latest"):
            new = list(range(1, NEWEST + 1))
        elif key.startswith("release_v") and key[9:].isdigit() and int(key[9:]) in RELEASE_FILES:
            new = list(range(1, int(key[9:]) + 1))
        elif key.startswith("v") and key[1:].isdigit() and int(key[1:]) in RELEASE_FILES:
            new = [int(key[1:])]
        elif key == "test":
            new = [1]
        elif key.startswith("test") and key[4:].isdigit() and int(key[4:]) in RELEASE_FILES:
            new = [int(key[4:])]
        else:
            raise InputDataError(
                f"unknown LiveCodeBench release {name!r}", field="release",
                expected="one of " + ", ".join(release_names()) + " (or several joined with commas)",
            )
        versions += [v for v in new if v not in versions]
    return sorted(versions)


def release_files(spec: str) -> list[str]:
    """The jsonl file names of a release spec, e.g. ``release_v3`` -> test.jsonl, test2.jsonl, test3.jsonl."""
    return [RELEASE_FILES[v] for v in release_versions(spec)]


# ---------------------------------------------------------------------------------------------------------------
# Where the files come from
# ---------------------------------------------------------------------------------------------------------------

def local_release_files(local_dir: str | Path, spec: str) -> list[Path]:
    """The release files of ``spec`` inside ``local_dir``; a missing folder or file is an InputDataError."""
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise InputDataError("LiveCodeBench folder does not exist or is not a directory", path=local_dir,
                             expected=f"a folder with {', '.join(RELEASE_FILES.values())}")
    paths = []
    for name in release_files(spec):
        p = local_dir / name
        if not p.is_file():
            raise InputDataError(f"release file {name} is missing for release {spec!r}", path=p,
                                 expected=f"the code_generation_lite file {name} in {local_dir}")
        paths.append(p)
    return paths


def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def probe_hub(timeout_s: float = 5.0) -> None:
    """Fail fast (HubUnavailable) when the hub cannot be reached: one TCP connect with a short timeout."""
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise HubUnavailable(
            "the Hugging Face hub is switched off (HF_HUB_OFFLINE=1) and the release files are not in its local "
            f"cache; put the LiveCodeBench files in a folder and set {LOCAL_DIR_ENV}=<folder> (or pass --lcb-dir)"
        )
    url = urlparse(_hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise HubUnavailable(
            f"cannot reach the Hugging Face hub at {_hub_endpoint()} ({exc.__class__.__name__}: {exc}); "
            f"put the LiveCodeBench release files ({', '.join(RELEASE_FILES.values())}) in a folder and set "
            f"{LOCAL_DIR_ENV}=<folder> (or pass --lcb-dir)"
        ) from exc


def hub_release_files(spec: str, repo: str = "livecodebench/code_generation_lite",
                      timeout_s: float = 10.0, cache_dir: str | Path | None = None) -> list[Path]:
    """Download (or take from the local hub cache) the release files of ``spec``; fails within seconds when the
    hub is unreachable, naming the local-folder alternative."""
    names = release_files(spec)
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(max(1, timeout_s))))
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from huggingface_hub import hf_hub_download

    def cached(name: str) -> Path | None:
        try:
            return Path(hf_hub_download(repo, name, repo_type="dataset", cache_dir=cache_dir,
                                        local_files_only=True))
        except Exception:  # noqa: BLE001 - not in the cache (or the cache is unusable): download it
            return None

    paths: list[Path] = []
    probed = False
    for name in names:
        hit = cached(name)
        if hit is None:
            if not probed:
                probe_hub(min(timeout_s, 5.0))
                probed = True
            try:
                hit = Path(hf_hub_download(repo, name, repo_type="dataset", cache_dir=cache_dir,
                                           etag_timeout=timeout_s))
            except (OSError, ConnectionError) as exc:  # requests/httpx errors subclass these
                raise HubUnavailable(
                    f"downloading {name} from the hub dataset {repo} failed ({exc.__class__.__name__}: {exc}); "
                    f"set {LOCAL_DIR_ENV}=<folder with the release files> (or pass --lcb-dir) to work offline"
                ) from exc
        paths.append(hit)
    return paths


def resolve_release_files(spec: str, *, source: str = "auto", local_dir: str | Path | None = None,
                          repo: str = "livecodebench/code_generation_lite", timeout_s: float = 10.0) -> list[Path]:
    """The local paths of the release files: from ``local_dir`` (source local, or auto with a folder set), else
    from the hub."""
    release_versions(spec)  # an unknown name fails before anything else
    if source == "local" or (source == "auto" and local_dir):
        if not local_dir:
            raise InputDataError(f"LiveCodeBench source is 'local' but no folder is set; set {LOCAL_DIR_ENV}",
                                 field="livecodebench.local_dir")
        return local_release_files(local_dir, spec)
    return hub_release_files(spec, repo=repo, timeout_s=timeout_s)


# ---------------------------------------------------------------------------------------------------------------
# Decoding and normalising
# ---------------------------------------------------------------------------------------------------------------

class _StringsOnly(pickle.Unpickler):
    """An unpickler that refuses every global: LiveCodeBench pickles only a JSON string."""

    def find_class(self, module: str, name: str) -> Any:  # pragma: no cover - only hostile input gets here
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a test-case pickle")


def decode_private_tests(value: Any) -> list[dict[str, Any]]:
    """Decode ``private_test_cases``: a list, plain JSON text, or base64(zlib(pickle(json text))). Raises
    ValueError when neither encoding works."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    text = value.strip()
    if text == "":
        return []
    if text[:1] in "[{":
        try:
            out = json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            return out
    try:
        raw = zlib.decompress(base64.b64decode(text, validate=True))
        inner = _StringsOnly(io.BytesIO(raw)).load()
        out = json.loads(inner) if isinstance(inner, (str, bytes)) else inner
    except Exception as exc:
        raise ValueError(f"neither JSON nor base64(zlib(pickle(json))): {exc.__class__.__name__}: {exc}") from exc
    return out


def _tests(value: Any, *, path: Path, line: int, field: str, private: bool) -> list[dict[str, str]]:
    try:
        tests = decode_private_tests(value) if private else (
            value if isinstance(value, list) else json.loads(value or "[]"))
    except (ValueError, TypeError) as exc:
        raise InputDataError(f"test cases do not decode: {exc}", path=path, line=line, field=field,
                             expected="a JSON list of {input, output, testtype}"
                             + (" or base64(zlib(pickle(json)))" if private else "")) from None
    if not isinstance(tests, list):
        raise InputDataError("test cases are not a list", path=path, line=line, field=field,
                             expected="a JSON list of {input, output, testtype}")
    out = []
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or "input" not in t or "output" not in t:
            raise InputDataError(f"test {i} lacks input/output", path=path, line=line, field=field,
                                 expected="objects with input, output, testtype")
        ttype = str(t.get("testtype", "stdin")).lower()
        if ttype not in ("stdin", "functional"):
            raise InputDataError(f"test {i} has testtype {ttype!r}", path=path, line=line, field=field,
                                 expected="stdin or functional")
        out.append({"input": str(t["input"]), "output": str(t["output"]), "testtype": ttype})
    return out


def parse_date(value: Any, *, path: Path | str | None = None, line: int | None = None,
               field: str = "contest_date") -> pd.Timestamp:
    """A contest date as a UTC timestamp (naive values are taken as UTC)."""
    try:
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            raise ValueError("empty")
    except (ValueError, TypeError) as exc:
        raise InputDataError(f"date {value!r} does not parse ({exc})", path=path, line=line, field=field,
                             expected="an ISO date such as 2024-05-12T00:00:00") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def normalise_problem(rec: dict[str, Any], *, path: Path, line: int, release: str) -> dict[str, Any]:
    """One release-file record -> one row of the problem schema."""
    for field in REQUIRED_FIELDS:
        if field not in rec or rec[field] is None:
            raise InputDataError("required field is missing", path=path, line=line, field=field)
    public = _tests(rec["public_test_cases"], path=path, line=line, field="public_test_cases", private=False)
    private = _tests(rec["private_test_cases"], path=path, line=line, field="private_test_cases", private=True)
    difficulty = str(rec["difficulty"]).strip().lower()
    if difficulty not in DIFFICULTIES:
        raise InputDataError(f"difficulty {rec['difficulty']!r} is not known", path=path, line=line,
                             field="difficulty", expected=" | ".join(DIFFICULTIES))
    meta_raw = rec.get("metadata") or "{}"
    try:
        meta = json.loads(meta_raw) if isinstance(meta_raw, str) else dict(meta_raw)
    except (ValueError, TypeError):
        raise InputDataError("metadata is not JSON", path=path, line=line, field="metadata",
                             expected='a JSON object such as {"func_name": "f"}') from None
    types = {t["testtype"] for t in public + private}
    if len(types) > 1:
        raise InputDataError(f"tests mix types {sorted(types)}", path=path, line=line, field="public_test_cases",
                             expected="one test type per problem")
    test_type = types.pop() if types else ("functional" if meta.get("func_name") else "stdin")
    func_name = str(meta.get("func_name") or "") if test_type == "functional" else ""
    if test_type == "functional" and not func_name:
        raise InputDataError("functional tests need metadata.func_name", path=path, line=line, field="metadata",
                             expected='{"func_name": ...}')
    return {
        "problem_id": str(rec["question_id"]),
        "source": "livecodebench",
        "platform": str(rec["platform"]).strip().lower(),
        "title": str(rec.get("question_title") or ""),
        "statement": str(rec["question_content"]),
        "starter_code": str(rec.get("starter_code") or ""),
        "contest_id": str(rec.get("contest_id") or ""),
        "contest_date": parse_date(rec["contest_date"], path=path, line=line),
        "difficulty": difficulty,
        "test_type": test_type,
        "func_name": func_name,
        "public_tests": json.dumps(public),
        "private_tests": json.dumps(private),
        "has_tests": bool(public or private),
        "release": release,
        "split": "none",
    }


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a line that is not a JSON object is an InputDataError."""
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputDataError(f"cannot read file: {exc.strerror or exc}", path=path) from None
    with fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputDataError(f"line is not valid JSON ({exc.msg} at column {exc.colno})", path=path,
                                     line=n, field="<line>", expected="one JSON object per line") from None
            if not isinstance(obj, dict):
                raise InputDataError("line is not a JSON object", path=path, line=n, field="<line>",
                                     expected="one JSON object per line")
            yield n, obj


def _release_of(path: Path) -> str:
    for v, name in RELEASE_FILES.items():
        if path.name == name:
            return f"release_v{v}"
    return path.stem


def load_problems(paths: Iterable[str | Path], *, since: str | None = None,
                  until: str | None = None) -> pd.DataFrame:
    """Read release files into the problem schema, keep problems with ``since <= contest day <= until``.
    A problem repeated in a later file keeps its first (earliest release) row."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    lo = parse_date(since, field="since").normalize() if since else None
    hi = parse_date(until, field="until").normalize() if until else None
    for p in map(Path, paths):
        release = _release_of(p)
        for n, rec in iter_jsonl(p):
            row = normalise_problem(rec, path=p, line=n, release=release)
            day = row["contest_date"].normalize()
            if (lo is not None and day < lo) or (hi is not None and day > hi) or row["problem_id"] in seen:
                continue
            seen.add(row["problem_id"])
            rows.append(row)
    return problems_frame(rows)


def problems_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly the problem columns and dtypes."""
    df = pd.DataFrame(rows, columns=list(PROBLEM_COLUMNS))
    df["contest_date"] = pd.to_datetime(df["contest_date"], utc=True)
    df["has_tests"] = df["has_tests"].astype(bool)
    return df


@dataclass(frozen=True)
class LiveCodeBenchRequest:
    """What to load: a release spec, an optional date window, and where the files come from."""

    release: str = "release_v6"
    since: str | None = None
    until: str | None = None
    source: str = "auto"
    local_dir: str | None = None
    repo: str = "livecodebench/code_generation_lite"
    timeout_s: float = 10.0


def load_livecodebench(req: LiveCodeBenchRequest) -> pd.DataFrame:
    """Resolve the files of ``req`` (hub or local) and load them."""
    files = resolve_release_files(req.release, source=req.source, local_dir=req.local_dir, repo=req.repo,
                                  timeout_s=req.timeout_s)
    return load_problems(files, since=req.since, until=req.until)
