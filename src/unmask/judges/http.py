"""A small OpenAI-compatible chat client on the standard library: timeouts, retries, a response cache.

Retried (with exponential backoff, honouring ``Retry-After``): HTTP 429, 408 and 5xx, timeouts,
dropped connections, truncated bodies, bodies that are not the expected JSON. Not retried: other 4xx
(the request itself is wrong) -> the item fails; 401 / 403 / 404 -> :class:`UnmaskError` (the whole
run is misconfigured: key, permission or URL). The API key is read from the environment at call time
and lives only in the request header: it is never logged, cached or written to any output.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from ..errors import UnmaskError

__all__ = ["CallFailed", "ChatClient"]


class CallFailed(Exception):
    """One request failed for good; ``str(exc)`` is the reason written into the ``unjudged`` verdict."""


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ChatClient:
    """POST ``{base_url}/chat/completions``; :meth:`complete` returns the assistant text or raises."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, retries: int = 4, backoff: float = 1.0, max_wait: float = 120.0,
                 max_tokens: int = 16, cache_dir: str | Path | None = None):
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UnmaskError(f"--base-url {base_url!r}: expected http(s)://host[:port]/path")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout, self.retries, self.backoff, self.max_wait = timeout, retries, backoff, max_wait
        self.max_tokens = max_tokens
        self.cache_dir = Path(cache_dir) if cache_dir else None
        handlers: list[Any] = []
        if parsed.hostname in ("localhost", "127.0.0.1", "::1"):
            handlers.append(urllib.request.ProxyHandler({}))  # never send loopback traffic to a proxy
        self._opener = urllib.request.build_opener(*handlers)

    # -- cache ---------------------------------------------------------------------------------------
    def _cache_file(self, body: dict[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
        # The key covers everything that shapes the answer (URL, model, messages, limits); not the API key.
        key = hashlib.sha256(orjson.dumps({"url": self.url, "body": body}, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    @staticmethod
    def _cache_get(path: Path | None) -> str | None:
        if path is None or not path.is_file():
            return None
        try:
            return orjson.loads(path.read_bytes())["content"]
        except (orjson.JSONDecodeError, KeyError, TypeError, OSError):
            return None  # a torn cache file is just a miss

    @staticmethod
    def _cache_put(path: Path | None, content: str) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{random.getrandbits(32):08x}")
        tmp.write_bytes(orjson.dumps({"content": content}))
        os.replace(tmp, path)

    # -- calls ---------------------------------------------------------------------------------------
    def complete(self, messages: list[dict[str, str]]) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        cache = self._cache_file(body)
        hit = self._cache_get(cache)
        if hit is not None:
            return hit
        data = orjson.dumps(body)
        last = "no attempt"
        for attempt in range(self.retries + 1):
            try:
                content = self._post(data)
            except _Retry as exc:
                last = str(exc)
                if attempt == self.retries:
                    break
                # Exponential backoff with jitter; a server's Retry-After wins when it asks for longer.
                wait = self.backoff * (2 ** attempt) * (0.5 + random.random() / 2)
                if exc.wait is not None:
                    wait = max(wait, exc.wait)
                time.sleep(min(wait, self.max_wait))
                continue
            self._cache_put(cache, content)
            return content
        raise CallFailed(f"{last} (after {self.retries + 1} attempt(s))")

    def _post(self, data: bytes) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = self._read(resp, deadline)
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
            if code in (401, 403, 404):
                raise UnmaskError(f"{self.url}: HTTP {code} ({_HINT[code]})") from None
            if code == 429 or code == 408 or code >= 500:
                raise _Retry(f"HTTP {code}", _retry_after(exc.headers.get("Retry-After"))) from None
            raise CallFailed(f"HTTP {code}") from None
        except TimeoutError:
            raise _Retry(f"timeout after {self.timeout:g}s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise _Retry(f"timeout after {self.timeout:g}s") from None
            raise _Retry(f"connection failed: {exc.reason}") from None
        except http.client.IncompleteRead:
            raise _Retry("truncated response body") from None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise _Retry(f"connection failed: {type(exc).__name__}") from None
        try:
            content = orjson.loads(raw)["choices"][0]["message"]["content"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            raise _Retry("malformed response body (not chat-completion JSON)") from None
        if not isinstance(content, str):
            raise _Retry("malformed response body (content is not text)")
        return content

    @staticmethod
    def _read(resp: Any, deadline: float) -> bytes:
        # Read in chunks so a server that drips bytes cannot hold a worker past the timeout.
        chunks = []
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError
            block = resp.read1(65536)  # returns what has arrived; read() would wait for all of it
            if not block:
                break
            chunks.append(block)
        if getattr(resp, "length", None):  # connection closed before Content-Length bytes arrived
            raise http.client.IncompleteRead(b"".join(chunks), resp.length)
        return b"".join(chunks)


_HINT = {401: "check the API key variable", 403: "the key may not use this model",
         404: "check --base-url and --judge-model"}
