"""Watching for new LiveCodeBench releases.

A *snapshot* records which release files exist (``test.jsonl``, ``test2.jsonl``, ...: the hub's file listing or a
local folder) and the latest contest date in them. The watcher compares a fresh snapshot with the last one it
recorded (a JSON state file, written atomically): a new release file or a later contest date is a new release, and
the pipeline is triggered for the new window (problems after the previously seen latest date). The state is recorded
only after the trigger succeeded, so a failed trigger is retried at the next check and a repeat check on the same
data triggers nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dreamprm.errors import InputDataError
from dreamprm.io import write_json

_RELEASE_FILE = re.compile(r"^test(\d*)\.jsonl$")


def file_version(name: str) -> int | None:
    """``test.jsonl`` -> 1, ``test6.jsonl`` -> 6, anything else -> None."""
    m = _RELEASE_FILE.match(Path(name).name)
    if not m:
        return None
    return int(m.group(1)) if m.group(1) else 1


@dataclass
class ReleaseSnapshot:
    """What the source holds now: release files (name -> size or etag) and the newest contest date."""

    source: str
    files: dict[str, str] = field(default_factory=dict)
    latest_date: str | None = None

    @property
    def latest_version(self) -> int:
        return max((file_version(n) or 0 for n in self.files), default=0)


def _max_contest_date(path: Path) -> str | None:
    latest = None
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                date = str(json.loads(line).get("contest_date", ""))[:10]
            except ValueError:
                raise InputDataError("not valid JSON", path=path, line=lineno) from None
            if date and (latest is None or date > latest):
                latest = date
    return latest


def observe_local(folder: str | Path) -> ReleaseSnapshot:
    """Snapshot of a local folder of release files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputDataError("LiveCodeBench folder does not exist", path=folder, expected="a folder of test*.jsonl")
    snap = ReleaseSnapshot(source=str(folder))
    dates = []
    for p in sorted(folder.iterdir()):
        if file_version(p.name) is not None and p.is_file():
            snap.files[p.name] = str(p.stat().st_size)
            d = _max_contest_date(p)
            if d:
                dates.append(d)
    snap.latest_date = max(dates) if dates else None
    return snap


def observe_hub(repo: str = "livecodebench/code_generation_lite", timeout_s: float = 10.0) -> ReleaseSnapshot:
    """Snapshot of the hub dataset's file listing (sizes); the newest file is downloaded for its dates."""
    from huggingface_hub import HfApi

    from dreamprm.data.livecodebench import hub_release_files, probe_hub

    probe_hub(min(timeout_s, 5.0))
    snap = ReleaseSnapshot(source=f"hub:{repo}")
    for entry in HfApi().list_repo_tree(repo, repo_type="dataset"):
        if file_version(entry.path) is not None:
            snap.files[entry.path] = str(getattr(entry, "size", "") or getattr(entry, "blob_id", ""))
    if snap.files:
        newest = max(snap.files, key=lambda n: file_version(n) or 0)
        v = file_version(newest)
        paths = hub_release_files(f"v{v}", repo=repo, timeout_s=timeout_s) if v and v <= 6 else []
        snap.latest_date = _max_contest_date(paths[0]) if paths else None
    return snap


def load_state(path: str | Path) -> ReleaseSnapshot | None:
    path = Path(path)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return ReleaseSnapshot(**data["snapshot"])


def record_state(path: str | Path, snapshot: ReleaseSnapshot, triggered: dict[str, Any] | None = None) -> None:
    write_json({"snapshot": asdict(snapshot), "triggered": triggered}, path)


@dataclass
class ReleaseCheck:
    is_new: bool
    reason: str
    since: str | None  # the start of the new window (day after the previously seen latest date)
    snapshot: ReleaseSnapshot


def compare(previous: ReleaseSnapshot | None, current: ReleaseSnapshot) -> ReleaseCheck:
    """Is ``current`` a new release compared with ``previous``?"""
    if not current.files:
        return ReleaseCheck(False, "no release files found", None, current)
    if previous is None:
        return ReleaseCheck(True, "first check: no release seen before", None, current)
    new_files = sorted(set(current.files) - set(previous.files))
    since = None
    if previous.latest_date:
        from datetime import date, timedelta

        since = (date.fromisoformat(previous.latest_date) + timedelta(days=1)).isoformat()
    if new_files:
        return ReleaseCheck(True, f"new release files: {', '.join(new_files)}", since, current)
    if current.latest_date and (previous.latest_date is None or current.latest_date > previous.latest_date):
        return ReleaseCheck(True, f"later contest dates: {previous.latest_date} -> {current.latest_date}", since,
                            current)
    return ReleaseCheck(False, f"nothing new since {previous.latest_date} ({len(current.files)} files)", None, current)
