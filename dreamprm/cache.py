"""A content-addressed result cache (sqlite): the key names everything a result depends on, so a finished piece of
work is never repeated and an interrupted run resumes where it stopped.

Used for policy rollouts (key: prompt + prompt version + policy identity + sampling parameters) and executions
(key: code + tests + limits + harness version). Values are JSON. Safe for several threads of one process and for
several processes (sqlite WAL); each put is committed at once, so a kill loses at most the result in flight.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any


def content_key(*parts: Any) -> str:
    """sha256 of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class ContentCache:
    """A persistent key -> JSON value map in one sqlite file, namespaced by ``kind``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS results (kind TEXT, key TEXT, value TEXT, PRIMARY KEY (kind, key))")
        self._db.commit()

    def get(self, kind: str, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM results WHERE kind=? AND key=?", (kind, key)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO results (kind, key, value) VALUES (?, ?, ?)", (kind, key, json.dumps(value))
            )
            self._db.commit()

    def count(self, kind: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM results WHERE kind=?", (kind,)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "ContentCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
