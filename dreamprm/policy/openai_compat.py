"""Policy backend for any OpenAI-compatible chat-completions server (vLLM, OpenAI, llama.cpp server, ...).

One ``POST {base_url}/chat/completions`` per prompt with ``n`` choices; prompts run concurrently on a thread pool.

Failures:
- 429, 5xx, timeouts and dropped connections are retried with exponential backoff (``backoff_base_s * 2**attempt``,
  capped at ``backoff_max_s``, with jitter); a ``Retry-After`` header (seconds or an HTTP date) is honoured instead when
  present (capped at ``backoff_max_s``). When the retries run out the prompt's samples come back as failed
  :class:`Completion` objects with the reason, so the flow records them.
- 400/413/422 (a bad request for this prompt, e.g. too long for the context) are not retried: failed samples.
- 401/403 (API key), 404 (wrong URL or model not served) and a refused connection (after the retries) mean no request
  can succeed: :class:`dreamprm.errors.ServiceUnavailable` naming the URL and what to do.

The API key comes from ``api_key=``, else ``DREAMPRM_POLICY_API_KEY``, else ``OPENAI_API_KEY``; with none set no
``Authorization`` header is sent (a local vLLM needs none).
"""

from __future__ import annotations

import email.utils
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

import httpx

from dreamprm.errors import ServiceUnavailable
from dreamprm.policy.base import Completion, PolicyBackend, PromptLike, SamplingParams, as_messages

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
API_KEY_ENV_VARS = ("DREAMPRM_POLICY_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
FATAL_STATUS = frozenset({401, 403, 404})


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message", err))[:300]
    if err:
        return str(err)[:300]
    return str(body)[:300]


class _Fatal(Exception):
    pass


class OpenAICompatPolicy(PolicyBackend):
    """Completions from ``{base_url}/chat/completions``. ``base_url`` defaults to ``OPENAI_BASE_URL`` or
    ``http://127.0.0.1:8000/v1`` (vLLM's default). ``extra_body`` is merged into every request (e.g.
    ``{"top_k": 20}`` for vLLM). ``max_tokens_field`` names the length field (``max_completion_tokens`` for newer
    OpenAI models). ``sleep`` is the function used to wait between retries (tests pass a fake)."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        max_retries: int = 5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        max_tokens_field: str = "max_tokens",
        extra_body: dict[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        if api_key is None:
            api_key = next((os.environ[v] for v in API_KEY_ENV_VARS if os.environ.get(v)), None)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_tokens_field = max_tokens_field
        self.extra_body = dict(extra_body or {})
        self._sleep = sleep
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._closed = False
        self._lock = threading.Lock()

    # -- request building ------------------------------------------------------------------------------------
    def payload(self, prompt: PromptLike, params: SamplingParams) -> dict[str, Any]:
        """The exact JSON body sent for one prompt."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": as_messages(prompt),
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            self.max_tokens_field: params.max_tokens,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        body.update(self.extra_body)
        return body

    # -- one prompt --------------------------------------------------------------------------------------------
    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max_s)
        delay = min(self.backoff_base_s * (2**attempt), self.backoff_max_s)
        return delay * (0.5 + random.random() / 2)

    def _failed(self, n: int, reason: str) -> list[Completion]:
        return [Completion(text="", error=reason) for _ in range(n)]

    def _how_to_start(self) -> str:
        return (
            f"start an OpenAI-compatible server there (e.g. `vllm serve {self.model} --port 8000`, which serves "
            f"{DEFAULT_BASE_URL}) or point DREAMPRM_POLICY__BASE_URL at a running one"
        )

    def _complete(self, prompt: PromptLike, params: SamplingParams) -> list[Completion]:
        body = self.payload(prompt, params)
        last_reason = "no attempt made"
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                response = self._client.post(self.url, json=body)
            except httpx.ConnectError as exc:
                last_reason = f"connection_error: {exc}"
                if attempt >= self.max_retries:
                    raise _Fatal(
                        f"cannot connect to the policy server at {self.url} ({exc}); {self._how_to_start()}"
                    ) from exc
            except httpx.TimeoutException as exc:
                last_reason = f"timeout: {type(exc).__name__}"
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                last_reason = f"transport_error: {exc}"
            else:
                status = response.status_code
                if status == 200:
                    return self._parse(response, params.n)
                reason = f"http_{status}: {_error_text(response)}"
                if status in (401, 403):
                    raise _Fatal(
                        f"the policy server at {self.url} rejected the request ({reason}); set "
                        f"DREAMPRM_POLICY_API_KEY or OPENAI_API_KEY to a valid key"
                    )
                if status == 404:
                    raise _Fatal(
                        f"the policy server at {self.url} answered 404 ({reason}); check that the base URL ends in "
                        f"/v1 and that model {self.model!r} is served (GET {self.base_url}/models lists them), or "
                        f"{self._how_to_start()}"
                    )
                if status not in RETRY_STATUS:
                    return self._failed(params.n, reason)
                last_reason = reason
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            if attempt < self.max_retries:
                self._sleep(self._backoff(attempt, retry_after))
        return self._failed(params.n, f"{last_reason} (after {self.max_retries + 1} attempts)")

    def _parse(self, response: httpx.Response, n: int) -> list[Completion]:
        try:
            data = response.json()
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return self._failed(n, f"bad_response: {exc!r}: {response.text[:200]}")
        usage = data.get("usage") or {}
        out: list[Completion] = []
        for choice in choices[:n]:
            message = choice.get("message") or {}
            text = message.get("content") or ""
            out.append(
                Completion(
                    text=text,
                    finish_reason=choice.get("finish_reason"),
                    error=None if text.strip() else "empty",
                    prompt_tokens=usage.get("prompt_tokens"),
                    meta={"id": data.get("id"), "request_completion_tokens": usage.get("completion_tokens")},
                )
            )
        missing = n - len(out)
        if missing > 0:
            out.extend(self._failed(missing, f"missing_choice: server returned {len(choices)} of {n} choices"))
        return out

    # -- the interface ---------------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[PromptLike], params: SamplingParams) -> list[list[Completion]]:
        if self._closed:
            raise RuntimeError("this OpenAICompatPolicy has been closed")
        prompts = list(prompts)
        if not prompts:
            return []
        results: list[list[Completion] | None] = [None] * len(prompts)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            futures = {pool.submit(self._complete, p, params): i for i, p in enumerate(prompts)}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for fut in done:
                exc = fut.exception()
                if isinstance(exc, _Fatal):
                    for p in pending:
                        p.cancel()
                    raise ServiceUnavailable(str(exc)) from exc
                if exc is not None:
                    for p in pending:
                        p.cancel()
                    raise exc
                results[futures[fut]] = fut.result()
        return [r if r is not None else self._failed(params.n, "not run") for r in results]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._client.close()
                self._closed = True
