"""Prefect flows: one per stage, thin wrappers over dreamprm library functions.

Importing this package sets Prefect's embedded defaults before prefect itself is imported: state under
``<project>/.prefect`` (not ``~/.prefect``), no analytics (its telemetry otherwise trips "database is locked" in
ephemeral mode). A user who sets PREFECT_API_URL talks to that server instead of the ephemeral API.
"""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(os.environ.get("DREAMPRM_ROOT", os.getcwd())).resolve()
os.environ.setdefault("PREFECT_HOME", str(_ROOT / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The ephemeral API server's start-up can exceed Prefect's 20 s default on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
