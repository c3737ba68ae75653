"""The ``llm`` judge: any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, ...).

``unmask judge GEN.jsonl --judge llm --base-url URL --judge-model NAME [--template harmbench|mmsb|refusal]``.
The API key is read from the environment variable named by ``--api-key-env`` (default
``OPENAI_API_KEY``; none is sent when it is unset, as local servers expect) and is never written
anywhere. Calls run on a bounded thread pool; each has a timeout, retries with backoff, and its answer
is cached on disk under a sha256 of the request, so a rerun asks only what it has not asked.
A call that fails for good, or whose answer cannot be parsed, gives ``unjudged`` with the reason:
never ``refused`` / safe.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import orjson

from ..data.records import Verdict
from ..errors import UnmaskError
from ..http import RetryPolicy
from . import Judge, JudgeItem, judge
from .http import CallFailed, ChatClient
from .templates import _SCENARIOS, TEMPLATES

__all__ = ["LLMJudge", "default_cache_dir"]

_FAILED = "judge call failed: "


def default_cache_dir() -> Path:
    """``$UNMASK_CACHE/llm-judge``, else ``$XDG_CACHE_HOME/unmask/llm-judge`` (``~/.cache`` by default)."""
    if os.environ.get("UNMASK_CACHE"):
        return Path(os.environ["UNMASK_CACHE"]) / "llm-judge"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "unmask" / "llm-judge"


def _template_hash(name: str) -> str:
    t = TEMPLATES[name]
    probe = [t.messages("\x00PROMPT", "\x00RESPONSE", c) for c in ("", *sorted(_SCENARIOS))]
    return hashlib.sha256(orjson.dumps(probe)).hexdigest()[:8]


@judge("llm")
class LLMJudge(Judge):
    """Ask a chat model, with one of :data:`~unmask.judges.templates.TEMPLATES`, about each answer."""

    def __init__(self, base_url: str | None = None, judge_model: str | None = None, template: str = "harmbench",
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8, timeout: float = 60.0,
                 retries: int = RetryPolicy.retries, backoff: float = RetryPolicy.backoff, max_tokens: int = 16,
                 cache_dir: str | Path | None = None, cache: bool = True):
        if not base_url:
            raise UnmaskError("judge 'llm' needs --base-url (an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1)")
        if not judge_model:
            raise UnmaskError("judge 'llm' needs --judge-model (the model name the endpoint serves)")
        if template not in TEMPLATES:
            raise UnmaskError(f"unknown --template {template!r}; choose from {', '.join(TEMPLATES)}")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise UnmaskError("judge 'llm': --concurrency >= 1, --retries >= 0 and --timeout > 0 expected")
        self.template = TEMPLATES[template]
        self.measures = self.template.measures  # type: ignore[misc]  # per instance: depends on the template
        self.needs_prompt = self.template.needs_prompt  # type: ignore[misc]
        self.concurrency = concurrency
        self.batch_size = concurrency * 8
        # The version pins template wording, answer parser and judge model: change one and it is another
        # judge (2: answers are read from their first word only, so "Not safe." is no longer "safe").
        self.version = f"2+{template}-{_template_hash(template)}@{judge_model}"
        self.client = ChatClient(base_url, judge_model, api_key_env=api_key_env, timeout=timeout,
                                 retries=retries, backoff=backoff, max_tokens=max_tokens,
                                 cache_dir=(cache_dir or default_cache_dir()) if cache else None)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="unmask-judge")
        self._answered = False  # the endpoint has answered at least once (or the cache has)
        self._settings: dict[str, Any] = {
            "base_url": base_url, "judge_model": judge_model, "template": template,
            "api_key_env": api_key_env,  # the variable's name only, never its value
            "concurrency": concurrency, "timeout": timeout, "retries": retries, "max_tokens": max_tokens,
            "cache": str(self.client.cache_dir) if self.client.cache_dir else None,
        }

    def describe(self) -> dict[str, Any]:
        adapted = {"request_adapted": self.client.endpoint.adapted} if self.client.endpoint.adapted else {}
        return {**super().describe(), **self._settings, **adapted}

    def _one(self, item: JudgeItem) -> Verdict:
        messages = self.template.messages(item.get("prompt") or "", item["response"], item.get("category") or "")
        try:
            answer = self.client.complete(messages)
        except CallFailed as exc:
            return self.verdict(item, "unjudged", f"{_FAILED}{exc}")
        self._answered = True
        label, why = self.template.read(answer)
        if label is None:
            return self.verdict(item, "unjudged", f"unparseable judge answer: {answer.strip()[:80]!r} ({why})")
        return self.verdict(item, label, f"judge answered {answer.strip()[:40]!r}",
                            score=(1.0 if label == "complied" else 0.0) if self.measures == "harm" else None)

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[tuple[int, Verdict]]:
        """Verdicts as the calls finish. Until the endpoint has answered once, failed calls are held back:
        when every call of the first batch fails (server down, wrong port, a redirect, ...), the run stops
        with one line and records nothing, instead of writing a file of ``unjudged`` rows and exiting 0."""
        futures = {self._pool.submit(self._one, item): i for i, item in enumerate(items)}
        held: list[tuple[int, Verdict]] = []
        try:
            for fut in as_completed(futures):
                verdict = fut.result()  # an UnmaskError (bad key / URL) ends the run here
                if not self._answered and verdict.reason.startswith(_FAILED):
                    held.append((futures[fut], verdict))
                    continue
                yield futures[fut], verdict
                yield from held
                held = []
            if held and not self._answered:
                raise UnmaskError(f"{self.client.url}: every judge call failed ({len(held)} of {len(held)}; "
                                  f"{held[0][1].reason.removeprefix(_FAILED)}); nothing was recorded: check the "
                                  "endpoint and run the command again")
            yield from held
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self.client.cancel()  # calls still in flight (an interrupt, an error) end now, not at their deadline
        self._pool.shutdown(wait=True, cancel_futures=True)
