"""The ``llm`` judge's chat client: :class:`unmask.http.ChatEndpoint` (deadline, the one retry policy
:class:`unmask.http.RetryPolicy`, no redirects elsewhere) plus an on-disk response cache.

The cache key is a sha256 of the URL and the request body (model, messages, limits), never the API key.
Only answers are cached, not failures, so a rerun asks again what failed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from ..http import CallFailed, ChatEndpoint, RetryPolicy

__all__ = ["CallFailed", "ChatClient"]


class ChatClient:
    """:meth:`complete` returns the judge model's answer text or raises :class:`CallFailed`."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, retries: int = RetryPolicy.retries, backoff: float = RetryPolicy.backoff,
                 max_wait: float = RetryPolicy.max_wait,
                 max_tokens: int = 16, cache_dir: str | Path | None = None):
        self.endpoint = ChatEndpoint(base_url, api_key_env=api_key_env, timeout=timeout,
                                     retry=RetryPolicy(retries=retries, backoff=backoff, max_wait=max_wait))
        self.url = self.endpoint.url
        self.model = model
        self.max_tokens = max_tokens
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def _cache_file(self, body: dict[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
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
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        tmp.write_bytes(orjson.dumps({"content": content}))
        os.replace(tmp, path)

    def complete(self, messages: list[dict[str, str]]) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        cache = self._cache_file(body)
        hit = self._cache_get(cache)
        if hit is not None:
            return hit
        content = self.endpoint.chat(body).content
        self._cache_put(cache, content)
        return content

    def cancel(self) -> None:
        """End the calls in flight (the run is being interrupted)."""
        self.endpoint.cancel()
