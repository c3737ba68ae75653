"""The one HTTP client of unmask: POST to an OpenAI-compatible ``/chat/completions`` endpoint.

Used by the ``llm`` judge (:mod:`unmask.judges.http`) and the ``openai`` generate backend
(:mod:`unmask.generate.openai`). What it promises, per call:

- **A total deadline.** ``timeout`` bounds one attempt by the wall clock, from connecting to the last
  byte of the body: a watchdog shuts the socket at the deadline, so a server that trickles a byte at a
  time (in the headers or the body) cannot hold a call past it.
- **Retries** of HTTP 429, 408 and 5xx, timeouts, dropped connections, short reads and bodies that are
  not chat-completion JSON (including bodies that are not UTF-8), under one policy for every caller
  (:class:`RetryPolicy`): up to ``retries`` more attempts; before attempt ``k + 1`` a wait of
  ``backoff * 2**k`` seconds times a jitter in [0.5, 1) (defaults: ``backoff`` 1 s, so 0.5-1 s, 1-2 s,
  2-4 s, ...), or the server's ``Retry-After`` (seconds or an HTTP date) when it asks for longer; no wait
  longer than ``max_wait`` (120 s). Callers choose only how many retries (and the judges, ``--backoff``).
- **No redirects elsewhere.** The API key goes to the configured origin only: a 307 / 308 to the same
  scheme, host and port is followed (method and body kept); any other redirect (another origin, or a
  301 / 302 / 303 that would turn the POST into a GET) is a failed call, never an answer.
- **Clear failures.** A call that fails for good raises :class:`CallFailed` whose text is the reason
  (``HTTP 400: <the server's explanation>``, ``timeout after 60s``, ``redirect to ... not followed``,
  ``truncated response body``, ...); HTTP 401 / 403 / 404 raise :class:`~unmask.errors.UnmaskError`
  (the key, a permission or the URL is wrong: every call would fail).
- **Reasoning models.** A 400 that says ``max_tokens`` or ``temperature`` is not supported is retried
  with ``max_completion_tokens`` / without the sampling settings (once each), and the endpoint remembers it
  (:attr:`ChatEndpoint.adapted` lists what was changed).

The API key is read from the environment at call time and lives only in the request header. Loopback
endpoints never go through a proxy; others honour the usual ``https_proxy`` / ``http_proxy`` /
``no_proxy`` variables (a proxy without credentials). :meth:`ChatEndpoint.cancel` ends every call in
flight at once (Ctrl-C).
"""

from __future__ import annotations

import email.utils
import http.client
import os
import random
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import UnmaskError

__all__ = ["CallFailed", "ChatEndpoint", "Reply", "RetryPolicy"]

MAX_BODY = 32 << 20  # bytes; a chat completion is kilobytes
_FATAL = {401: "check the API key variable", 403: "the key may not use this model",
          404: "check the base URL and the model name"}
_SAMPLING = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


class CallFailed(Exception):
    """One request failed for good; ``str(exc)`` is the reason (written into an ``unjudged`` verdict)."""


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


@dataclass(frozen=True)
class Reply:
    content: str
    finish_reason: str | None  # "stop", "length" (cut off at the token limit), ... as the server says


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed attempt is retried (see the module docstring); one policy for every caller."""

    retries: int = 4  # attempts after the first
    backoff: float = 1.0  # seconds before the first retry (before jitter), doubled each time
    max_wait: float = 120.0  # no wait is longer, whatever a server's Retry-After asks

    def wait(self, attempt: int, jitter: float, asked: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0-based): ``jitter`` in [0, 1) scales the backoff
        into [0.5, 1) of it; ``asked`` (a server's Retry-After) wins when longer; capped at ``max_wait``."""
        wait = self.backoff * (2 ** attempt) * (0.5 + jitter / 2)
        if asked is not None:
            wait = max(wait, asked)
        return min(wait, self.max_wait)


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _origin(u: urllib.parse.ParseResult) -> tuple[str, str, int]:
    return u.scheme, (u.hostname or "").lower(), u.port or (443 if u.scheme == "https" else 80)


def explain(raw: bytes, limit: int = 300) -> str:
    """The server's own words from an error body (OpenAI ``{"error": {"message"}}``, ``{"detail"}``, text)."""
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = raw.decode("utf-8", "replace")
    for _ in range(3):
        inner = next((doc[k] for k in ("error", "message", "detail", "msg") if doc.get(k)), None) if isinstance(
            doc, dict) else None
        if inner is None:
            break
        doc = inner
    text = " ".join((doc if isinstance(doc, str) else orjson.dumps(doc).decode()).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ChatEndpoint:
    """``chat(body) -> Reply`` against ``{base_url}/chat/completions``; see the module docstring."""

    def __init__(self, base_url: str, *, api_key_env: str = "OPENAI_API_KEY", timeout: float = 60.0,
                 retry: RetryPolicy = RetryPolicy(), option: str = "--base-url"):
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UnmaskError(f"{option} {base_url!r}: expected http(s)://host[:port]/path")
        path = parsed.path.rstrip("/") + "/chat/completions"
        self.url = urllib.parse.urlunparse(parsed._replace(path=path, params="", fragment=""))
        self._target = urllib.parse.urlparse(self.url)
        self.api_key_env = api_key_env
        self.timeout, self.retry = timeout, retry
        self.adapted: list[str] = []  # request fields changed for a server that rejected them
        self._rng = random.Random()  # jitter; never the global RNG (seeded work may share the process)
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._active: set[http.client.HTTPConnection] = set()

    # -- public ------------------------------------------------------------------------------------
    def chat(self, body: dict[str, Any]) -> Reply:
        """POST ``body`` (with retries); the first choice's text and finish reason, or :class:`CallFailed`."""
        body = self._adapt(body)
        while True:  # at most two adaptations (each one adds to self.adapted), then the answer or the failure
            try:
                return self._with_retries(body)
            except _Rejected as exc:
                again = self._adapt(body, exc.explanation)
                if again == body:
                    raise CallFailed(str(exc)) from None
                body = again

    def cancel(self) -> None:
        """End every call in flight now and fail later ones (``cancelled``): the run is being interrupted."""
        self._cancelled.set()
        with self._lock:
            for conn in list(self._active):
                _shut(conn)

    # -- request shaping -----------------------------------------------------------------------------
    def _adapt(self, body: dict[str, Any], explanation: str | None = None) -> dict[str, Any]:
        if explanation is not None:
            low = explanation.lower()
            if "support" not in low:  # "Unsupported parameter: 'max_tokens' ...", "... does not support 0 ..."
                return body
            wanted = []
            if "max_tokens" in body and ("max_tokens" in low or "max_completion_tokens" in low):
                wanted.append("max_completion_tokens")
            if any(k in body and k in low for k in _SAMPLING):
                wanted.append("default sampling")
            if not wanted:
                return body
            with self._lock:
                self.adapted = sorted(set(self.adapted) | set(wanted))
        if not self.adapted:
            return body
        body = dict(body)
        if "max_completion_tokens" in self.adapted and "max_tokens" in body:
            body["max_completion_tokens"] = body.pop("max_tokens")
        if "default sampling" in self.adapted:
            for k in _SAMPLING:
                body.pop(k, None)
        return body

    # -- retries ------------------------------------------------------------------------------------
    def _with_retries(self, body: dict[str, Any]) -> Reply:
        data = orjson.dumps(body)
        last = "no attempt"
        retries = self.retry.retries
        for attempt in range(retries + 1):
            if self._cancelled.is_set():
                raise CallFailed("cancelled")
            try:
                return self._attempt(data)
            except _Retry as exc:
                last = str(exc)
                if attempt == retries:
                    break
                if self._cancelled.wait(self.retry.wait(attempt, self._rng.random(), exc.wait)):
                    raise CallFailed("cancelled") from None
        raise CallFailed(f"{last} (after {retries + 1} attempt(s))")

    # -- one attempt --------------------------------------------------------------------------------
    def _connection(self, target: urllib.parse.ParseResult) -> tuple[http.client.HTTPConnection, str]:
        """A connection for ``target`` (through a proxy where the environment says so) and the request path."""
        scheme, host, port = _origin(target)
        path = target.path + (f"?{target.query}" if target.query else "")
        proxy = None
        if host not in ("localhost", "127.0.0.1", "::1") and not urllib.request.proxy_bypass(host):
            proxy = urllib.request.getproxies().get(scheme)
        if proxy:
            p = urllib.parse.urlparse(proxy if "://" in proxy else f"http://{proxy}")
            if scheme == "https":
                conn = http.client.HTTPSConnection(p.hostname, p.port or 80, timeout=self.timeout,
                                                   context=ssl.create_default_context())
                conn.set_tunnel(host, port)
                return conn, path
            return http.client.HTTPConnection(p.hostname, p.port or 80, timeout=self.timeout), target.geturl()
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                               context=ssl.create_default_context()), path
        return http.client.HTTPConnection(host, port, timeout=self.timeout), path

    def _attempt(self, data: bytes) -> Reply:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        target = self._target
        for _hop in range(4):  # the request, then at most 3 same-origin 307 / 308
            status, head, raw = self._exchange(target, data, headers)
            if status in (301, 302, 303, 307, 308):
                where = urllib.parse.urlparse(urllib.parse.urljoin(target.geturl(), head.get("Location") or ""))
                if status in (307, 308) and _origin(where) == _origin(self._target):
                    target = where
                    continue
                raise CallFailed(f"HTTP {status} redirect to {where.scheme}://{where.netloc} not followed "
                                 "(the request and its API key go to the configured origin only)")
            return self._reply(status, head, raw)
        raise CallFailed("too many redirects")

    def _exchange(self, target: urllib.parse.ParseResult, data: bytes,
                  headers: dict[str, str]) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request; the whole of it (connect, headers, body) within ``timeout`` seconds."""
        conn, path = self._connection(target)
        fired: list[str] = []

        def watchdog() -> None:
            fired.append("timeout")
            _shut(conn)

        timer = threading.Timer(self.timeout, watchdog)
        timer.daemon = True
        with self._lock:
            self._active.add(conn)
        timer.start()
        try:
            conn.request("POST", path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = _read_body(resp)
            status, head = resp.status, resp.headers
        except (OSError, http.client.HTTPException, _Truncated) as exc:
            if self._cancelled.is_set():
                raise CallFailed("cancelled") from None
            if fired or isinstance(exc, TimeoutError):
                raise _Retry(f"timeout after {self.timeout:g}s") from None
            if isinstance(exc, _TooLarge):
                raise CallFailed(str(exc)) from None
            if isinstance(exc, (_Truncated, http.client.IncompleteRead)):
                raise _Retry("truncated response body") from None
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise _Retry(f"connection failed: {why}") from None
        finally:
            timer.cancel()
            with self._lock:
                self._active.discard(conn)
            conn.close()
        if fired:  # the deadline passed as the last bytes came: do not trust a body cut by the watchdog
            raise _Retry(f"timeout after {self.timeout:g}s")
        return status, head, raw

    def _explain(self, raw: bytes, limit: int = 300) -> str:
        text = explain(raw, limit)
        key = os.environ.get(self.api_key_env)
        return text.replace(key, "[API key]") if key and len(key) >= 4 else text  # a server may echo it

    def _reply(self, status: int, head: http.client.HTTPMessage, raw: bytes) -> Reply:
        if status in _FATAL:
            raise UnmaskError(f"{self.url}: HTTP {status} ({_FATAL[status]}): {self._explain(raw, 160)}")
        if status == 429 or status == 408 or status >= 500:
            raise _Retry(f"HTTP {status}", retry_after(head.get("Retry-After")))
        if status >= 400:
            said = self._explain(raw)
            raise _Rejected(f"HTTP {status}: {said}" if said else f"HTTP {status} (no explanation in the body)",
                            self._explain(raw, 2000))
        if status != 200:
            raise _Retry(f"unexpected HTTP {status}")
        try:
            choice = orjson.loads(raw)["choices"][0]
            content = choice["message"].get("content")
            finish = choice.get("finish_reason")
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            raise _Retry("malformed response body (not chat-completion JSON)") from None
        if content is None:
            content = ""  # e.g. a reasoning model that spent every token thinking: finish_reason says so
        if not isinstance(content, str) or not (finish is None or isinstance(finish, str)):
            raise _Retry("malformed response body (content is not text)")
        return Reply(content, finish)


class _Rejected(Exception):
    """A 4xx other than 401/403/404/408/429: the request itself is wrong (not retried as is)."""

    def __init__(self, reason: str, explanation: str):
        super().__init__(reason)
        self.explanation = explanation


class _Truncated(Exception):
    pass


class _TooLarge(_Truncated):
    pass


def _shut(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in another thread
        except OSError:
            pass


def _read_body(resp: http.client.HTTPResponse) -> bytes:
    chunks, size = [], 0
    while True:
        block = resp.read1(65536)  # what has arrived; a watchdog shutdown ends it with b"" or an error
        if not block:
            break
        size += len(block)
        if size > MAX_BODY:
            raise _TooLarge(f"response body over {MAX_BODY >> 20} MiB")
        chunks.append(block)
    if resp.length:  # the connection closed before Content-Length bytes arrived
        raise _Truncated
    return b"".join(chunks)
