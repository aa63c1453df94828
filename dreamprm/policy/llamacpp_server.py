"""A local llama.cpp server (the ``xllamacpp`` wheel: prebuilt, no compiler) in a child process, for one stage.

    with LlamaCppServer(ServerConfig(model_path=gguf, n_parallel=4, n_threads=2)) as server:
        ... POST f"{server.base_url}/chat/completions" ...          # OpenAI protocol, e.g. OpenAICompatPolicy

The server is stopped on every exit path:
- leaving the ``with`` block, normally or by an exception (a crash of the stage) or Ctrl-C (KeyboardInterrupt):
  :meth:`LlamaCppServer.stop` closes the child's lifeline, then terminates, then kills it;
- the interpreter exiting without leaving the block (``atexit``);
- the stage process dying without any Python cleanup (SIGKILL, SIGTERM's default action, a segfault): the kernel
  closes the lifeline pipe and the child exits by itself (see :mod:`dreamprm.policy._llamacpp_child`).
The child runs in its own session, so a Ctrl-C in the terminal reaches only the stage, which then stops the server in
order (instead of both racing to die).

Start-up never hangs: a missing model file and a port in use are checked before the child starts; a failure while
loading is read off the child's answer and its log; no answer within ``startup_timeout_s`` kills it. All of these
raise :class:`LlamaCppServerError` with ``reason`` set (``model_missing``, ``port_in_use``, ``startup_failed``,
``startup_timeout``, ``not_installed``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Self

from dreamprm.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class LlamaCppServerError(ServiceUnavailable):
    """The llama.cpp server could not start or has died; ``reason`` is a short machine-readable cause."""

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class ServerConfig:
    """What the server runs. ``n_ctx`` is the whole context, shared by the ``n_parallel`` slots (llama.cpp gives each
    ``n_ctx / n_parallel`` tokens). ``port=0`` takes a free port. Thread counts of 0 mean every core. ``poll`` is
    llama.cpp's busy-wait level (0-100, its default 50): 0 lets idle threads sleep, which matters when other
    processes share the cores."""

    model_path: str
    n_parallel: int = 4
    n_ctx: int = 8192
    n_threads: int = 0
    n_threads_batch: int = 0
    port: int = 0
    host: str = "127.0.0.1"
    startup_timeout_s: float = 120.0
    warmup: bool = False
    poll: int = 50

    def resolved(self) -> ServerConfig:
        cores = os.cpu_count() or 1
        return ServerConfig(
            **{
                **asdict(self),
                "n_threads": self.n_threads or cores,
                "n_threads_batch": self.n_threads_batch or self.n_threads or cores,
            }
        )


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on (host, port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line for line in text if " E " in line or "error" in line.lower()]
    return "\n".join((errors or text)[-lines:])


_LIVE: weakref.WeakSet[LlamaCppServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


class LlamaCppServer:
    """One llama.cpp server child process. Start with :meth:`start` or ``with``; ``base_url`` ends in ``/v1``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config.resolved()
        self.proc: subprocess.Popen[bytes] | None = None
        self.address: str | None = None
        self.log_path: Path | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        if self.address is None:
            raise RuntimeError("the llama.cpp server has not been started")
        return f"{self.address}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- start -----------------------------------------------------------------------------------------------
    def _precheck(self) -> None:
        cfg = self.config
        if not Path(cfg.model_path).is_file():
            raise LlamaCppServerError(
                f"llama.cpp server: model file {cfg.model_path} does not exist", reason="model_missing"
            )
        if cfg.port and port_in_use(cfg.host, cfg.port):
            raise LlamaCppServerError(
                f"llama.cpp server: port {cfg.port} on {cfg.host} is already in use; set "
                "DREAMPRM_POLICY__LLAMACPP__PORT to a free port or to 0 (any free port)",
                reason="port_in_use",
            )
        import importlib.util

        if importlib.util.find_spec("xllamacpp") is None:
            raise LlamaCppServerError(
                "the llamacpp policy backend needs the xllamacpp package; install it with `pip install xllamacpp` "
                "(make venv does)",
                reason="not_installed",
            )

    def _fail(self, message: str, reason: str) -> LlamaCppServerError:
        tail = _log_tail(self.log_path) if self.log_path else ""
        if reason == "startup_failed" and "couldn't bind" in tail:
            reason = "port_in_use"
        elif reason == "startup_failed" and ("failed to load model" in tail or "failed to open GGUF" in tail):
            reason = "model_load_failed"
        self._kill()
        detail = f"\nllama.cpp log ({self.log_path}):\n{tail}" if tail else ""
        return LlamaCppServerError(f"llama.cpp server on {self.config.model_path}: {message} [{reason}]{detail}",
                                   reason=reason)

    def start(self) -> Self:
        """Start the child and wait until it listens. Raises :class:`LlamaCppServerError` on any failure."""
        with self._lock:
            if self.alive():
                return self
            self._precheck()
            fd, log_name = tempfile.mkstemp(prefix="dreamprm-llamacpp-", suffix=".log")
            self.log_path = Path(log_name)
            cfg = json.dumps(asdict(self.config))
            t0 = time.perf_counter()
            with os.fdopen(fd, "wb") as log_file:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "dreamprm.policy._llamacpp_child", cfg],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log_file,
                    start_new_session=True,
                    close_fds=True,
                )
            _LIVE.add(self)
            answer = self._read_answer(self.config.startup_timeout_s)
            if answer is None:
                if self.proc.poll() is not None:
                    raise self._fail(f"exited with code {self.proc.returncode} before listening", "startup_failed")
                raise self._fail(f"no answer within {self.config.startup_timeout_s:.0f} s", "startup_timeout")
            if "error" in answer:
                raise self._fail(str(answer["error"]), "startup_failed")
            self.address = str(answer["address"]).rstrip("/")
            log.info("llama.cpp server pid %s listening on %s (%.1f s; log %s)", self.proc.pid, self.address,
                     time.perf_counter() - t0, self.log_path)
            return self

    def _read_answer(self, timeout_s: float) -> dict[str, object] | None:
        assert self.proc is not None and self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout_s
        buf = b""
        try:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(timeout=left):
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:  # the child exited
                    self.proc.wait(timeout=10)
                    return None
                buf += chunk
        finally:
            sel.close()
        try:
            return json.loads(buf.split(b"\n", 1)[0])
        except ValueError:
            return {"error": f"unreadable answer {buf[:200]!r}"}

    # -- stop ------------------------------------------------------------------------------------------------
    def _kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # the lifeline: the child exits by itself
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        _LIVE.discard(self)

    def stop(self) -> None:
        """Stop the server (idempotent). Its log file is removed after a clean run and kept after a failure."""
        with self._lock:
            was_running = self.alive()
            self._kill()
            if was_running and self.log_path is not None:
                self.log_path.unlink(missing_ok=True)
            self.address = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe_exit(self) -> str:
        """Why the server is gone (exit code and log tail), for error messages."""
        if self.proc is None:
            return "it was never started"
        code = self.proc.poll()
        if code is None:
            return f"it is still running (pid {self.proc.pid})"
        tail = _log_tail(self.log_path) if self.log_path else ""
        return f"it exited with code {code}" + (f"; log {self.log_path}:\n{tail}" if tail else "")
