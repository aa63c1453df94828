"""Untrusted-code execution with LiveCodeBench semantics: the in-sandbox harness, Docker and bubblewrap backends,
the image build, and a streaming batch API with a result cache.

Imports neither torch, prefect nor dreamprm. Typical use::

    from sandbox import get_backend, run_batch, ResultCache
    with get_backend("auto") as backend:
        for i, result in run_batch(backend, jobs, cache=ResultCache(".cache/sandbox.sqlite")):
            ...

A job is ``{"code": str, "tests": [{"input", "output", "testtype"}], "func_name": str, "limits": {...}}``; see
``sandbox/harness.py`` for the result format and verdicts.
"""

from __future__ import annotations

from sandbox.backends import ResultCache, SandboxUnavailable, available_backends, get_backend, job_key, run_batch
from sandbox.harness import DEFAULT_LIMITS, HARNESS_VERSION, VERDICTS

__all__ = ["get_backend", "available_backends", "run_batch", "ResultCache", "job_key", "SandboxUnavailable",
           "HARNESS_VERSION", "VERDICTS", "DEFAULT_LIMITS"]
