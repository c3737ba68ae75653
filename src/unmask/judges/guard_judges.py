"""Guard-model judges: ``llama-guard-3``, ``llama-guard-3-vision``, ``llama-guard-4``, ``md-judge``,
``harmbench-cls``, each run locally (``--model-path``, a Hugging Face folder, safetensors only) or over
an OpenAI-compatible server (``--base-url`` + ``--judge-model``, e.g. vLLM serving the guard).

The prompt is the model's documented one (:mod:`unmask.judges.guards`); the answer is parsed strictly:
``unsafe`` / ``yes`` -> ``complied`` (harmful), ``safe`` / ``no`` -> ``refused`` (not harmful), anything
else -> ``unjudged`` with the raw answer in the reason. The categories the guard names (``S1``, ``O4``)
go into the verdict's ``categories`` list. Guards measure harm and read the request, so every row
needs its prompt (``--samples`` or the benchmark's ``samples.jsonl``); the vision guards also send
the sample's image when it has one.

Locally the text guards are fed their rendered prompt (tokenised with BOS where the model card does),
the vision guards go through their processor's chat template. Over a server the guard's chat template
is the server's: the turns are built so that Llama Guard's, Llama-2's (HarmBench) and Mistral's
(MD-Judge) templates rebuild the documented prompt; HarmBench's 512-token clip of the answer is
applied only locally, where the tokenizer is at hand.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import orjson

from ..data.records import Verdict
from ..errors import UnmaskError
from ..http import RetryPolicy
from . import Judge, JudgeItem, judge
from .guards import FORMATS, GuardFormat

__all__ = ["GuardJudge"]

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def _format_hash(fmt: GuardFormat) -> str:
    probe = [fmt.render("\x00P", "\x00R"), fmt.messages("\x00P", "\x00R"), sorted(fmt.categories)]
    return hashlib.sha256(orjson.dumps(probe)).hexdigest()[:8]


def _data_url(path: str) -> str:
    p = Path(path)
    mime = _MIME.get(p.suffix.lower(), "image/png")
    return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode()}"


class GuardJudge(Judge):
    """Base of the guard judges; the subclass names its :class:`GuardFormat` in ``format_name``."""

    measures = "harm"
    needs_prompt = True
    format_name = ""

    def __init__(self, model_path: str | Path | None = None, base_url: str | None = None,
                 judge_model: str | None = None, device: str = "auto", batch_size: int = 8,
                 max_new_tokens: int | None = None, trust_remote_code: bool = False,
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8, timeout: float = 60.0,
                 retries: int = RetryPolicy.retries, backoff: float = RetryPolicy.backoff, cache_dir: str | Path | None = None, cache: bool = True):
        self.fmt = FORMATS[self.format_name]
        self.max_new_tokens = max_new_tokens or self.fmt.max_new_tokens
        if bool(model_path) == bool(base_url):
            raise UnmaskError(f"judge {self.name!r} needs either --model-path (a local model folder) or "
                              f"--base-url with --judge-model (an OpenAI-compatible server), not both")
        self._pool: ThreadPoolExecutor | None = None
        self.local = None
        if base_url:
            if not judge_model:
                raise UnmaskError(f"judge {self.name!r} needs --judge-model (the name the server gives the guard)")
            from .http import ChatClient
            from .llm import default_cache_dir

            self.client = ChatClient(base_url, judge_model, api_key_env=api_key_env, timeout=timeout,
                                     retries=retries, backoff=backoff, max_tokens=self.max_new_tokens,
                                     cache_dir=(cache_dir or default_cache_dir()) if cache else None)
            self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="unmask-guard")
            self.batch_size = concurrency * 8
            where = f"@{judge_model}"
            self._settings: dict[str, Any] = {"base_url": base_url, "judge_model": judge_model,
                                              "api_key_env": api_key_env, "concurrency": concurrency}
        else:
            from .guard_local import LocalGuard

            self.local = LocalGuard(Path(model_path), self.fmt, device=device,
                                    trust_remote_code=trust_remote_code)
            self.batch_size = batch_size
            where = f"+{self.local.fingerprint}"
            self._settings = {"model_path": str(model_path), "device": self.local.device, "batch_size": batch_size}
        self.version = f"1+{self.fmt.name}-{_format_hash(self.fmt)}{where}"
        self._settings["max_new_tokens"] = self.max_new_tokens

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "format": self.fmt.name, "sources": list(self.fmt.sources), **self._settings}

    def decide(self, item: JudgeItem, answer: str) -> Verdict:
        """The strict reading of one raw guard answer."""
        parsed = self.fmt.parse(answer)
        if parsed is None:
            return self.verdict(item, "unjudged", f"unparseable guard answer: {answer.strip()[:80]!r}")
        label, codes = parsed
        base = self.verdict(item, label, f"guard answered {' '.join(answer.split())[:60]!r}",
                            score=1.0 if label == "complied" else 0.0)
        return Verdict(**base.model_dump(), categories=codes)

    def _remote(self, item: JudgeItem) -> Verdict:
        from .http import CallFailed

        images = [item["image"]] if self.fmt.multimodal and item.get("image") else []
        try:
            urls = [_data_url(p) for p in images]
        except OSError as exc:
            return self.verdict(item, "unjudged", f"image unreadable: {exc}")
        try:
            answer = self.client.complete(self.fmt.messages(item.get("prompt") or "", item["response"], urls))
        except CallFailed as exc:
            return self.verdict(item, "unjudged", f"judge call failed: {exc}")
        return self.decide(item, answer)

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[tuple[int, Verdict]]:
        if self.local is not None:
            answers = self.local.answers(items, self.max_new_tokens)
            for i, (item, answer) in enumerate(zip(items, answers, strict=True)):
                yield i, (self.verdict(item, "unjudged", answer[1]) if isinstance(answer, tuple)
                          else self.decide(item, answer))
            return
        assert self._pool is not None
        futures = {self._pool.submit(self._remote, item): i for i, item in enumerate(items)}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.local = None


def _register(name: str) -> None:
    cls = type(f"Guard_{name.replace('-', '_')}", (GuardJudge,), {"format_name": name,
                                                                    "__doc__": f"The {name} guard."})
    judge(name)(cls)


for _name in FORMATS:
    _register(_name)
