"""The child process that hosts a llama.cpp server (xllamacpp) for :class:`dreamprm.policy.llamacpp_server.LlamaCppServer`.

Why a child process: the server is native code with its own threads; in a child it can be killed without touching the
stage, and it dies with the stage. Its *lifeline* is its stdin, a pipe whose only writer is the parent: when the
parent exits in any way (normal exit, Ctrl-C, an exception, SIGKILL, a segfault) the kernel closes that pipe, the read
below returns EOF, and the child ends at once. Protocol on stdout: exactly one JSON line, ``{"address": ...}`` once the
model is loaded and the port is listening, or ``{"error": ...}`` before exiting non-zero. llama.cpp's own log goes to
stderr (the parent points it at a log file).

    python -m dreamprm.policy._llamacpp_child '<json config>'
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _params(cfg: dict[str, Any]) -> Any:
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = cfg["model_path"]
    p.n_parallel = int(cfg["n_parallel"])
    p.n_ctx = int(cfg["n_ctx"])
    p.cpuparams.n_threads = int(cfg["n_threads"])
    p.cpuparams_batch.n_threads = int(cfg["n_threads_batch"])
    p.cpuparams.poll = int(cfg.get("poll", 50))
    p.cpuparams_batch.poll = int(cfg.get("poll", 50))
    p.port = int(cfg["port"])
    p.hostnames = [cfg.get("host", "127.0.0.1")]
    p.warmup = bool(cfg.get("warmup", False))
    return p


def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[0])
    try:
        import xllamacpp

        server = xllamacpp.Server(_params(cfg))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which names the cause from the log
        _say({"error": f"{type(exc).__name__}: {exc}"})
        return 3
    _say({"address": server.listening_address, "pid": os.getpid()})
    # Block until the parent closes our stdin (stop()) or dies (the kernel closes it).
    try:
        while sys.stdin.buffer.read(1 << 16):
            pass
    except (OSError, KeyboardInterrupt):
        pass
    # Skip interpreter teardown: the server's threads are native and nothing needs flushing.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
