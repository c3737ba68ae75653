"""The OpenAI-compatible backend: any ``/chat/completions`` endpoint (vLLM, SGLang, TGI, an API).

Images travel as base64 data URLs; ``batch_size`` requests in flight, through the one HTTP client
(:mod:`unmask.http`): a total deadline per request (``timeout_s``, wall clock, even when a server trickles
bytes), retries of transient failures under its one policy (:class:`unmask.http.RetryPolicy`: jittered
backoff from 1 s, ``Retry-After`` when longer), no redirect to another origin. The API key is read from the environment variable named by ``api_key_env`` and sent as a bearer
token; it is never written to rows, manifests or error messages. A request that fails for good stops the
run with one line naming the sample and the reason; whatever finished is in the journal, so a rerun resumes.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..data.images import is_synthetic, open_image
from ..data.records import Sample
from ..data.store import content_key
from ..errors import UnmaskError
from ..http import CallFailed, ChatEndpoint, Reply, RetryPolicy
from .backend import backend
from .config import GenerateConfig

__all__ = ["OpenAIBackend", "image_data_url"]

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def image_data_url(ref: str, root: Path) -> str:
    """The image as a data URL: a real file's own bytes (if a web format), else re-encoded as PNG."""
    from ..data.formats import resolve_image
    from ..data.images import pil_open

    image = open_image(ref, root)  # validates (decodes) the image and the path
    if not is_synthetic(ref):
        path = resolve_image(ref, root)
        with pil_open(path) as im:
            fmt = im.format
        if fmt in _MIME:
            return f"data:{_MIME[fmt]};base64," + base64.b64encode(path.read_bytes()).decode()
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@backend("openai")
class OpenAIBackend:
    name = "openai"

    def __init__(self, cfg: GenerateConfig) -> None:
        if cfg.adapter:
            raise UnmaskError(
                "the openai backend cannot load an adapter; serve the adapter with the endpoint "
                "(e.g. vLLM --lora-modules) and pass its name as --model"
            )
        self.cfg = cfg
        self.root = Path(cfg.bench)
        self.endpoint = ChatEndpoint(cfg.api_base, api_key_env=cfg.api_key_env, timeout=cfg.timeout_s,
                                     retry=RetryPolicy(retries=cfg.retries), option="--api-base")
        self.url = self.endpoint.url
        self.fingerprint = content_key({"api_base": cfg.api_base, "model": cfg.model})[:16]
        self._pool = ThreadPoolExecutor(max_workers=cfg.batch_size, thread_name_prefix="unmask-openai")

    def _body(self, sample: Sample) -> dict[str, Any]:
        cfg = self.cfg
        content: list[dict[str, Any]] = []
        if sample.image:
            content.append(
                {"type": "image_url", "image_url": {"url": image_data_url(sample.image, self.root)}}
            )
        content.append({"type": "text", "text": sample.prompt.replace("<image>", "").strip()})
        messages: list[dict[str, Any]] = []
        if cfg.system_prompt:
            messages.append({"role": "system", "content": cfg.system_prompt})
        messages.append({"role": "user", "content": content})
        body: dict[str, Any] = {"model": cfg.model, "messages": messages, "max_tokens": cfg.max_new_tokens}
        if cfg.do_sample:
            body.update(temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed)
        else:
            body.update(temperature=0.0)
        if cfg.min_new_tokens:
            body["min_tokens"] = cfg.min_new_tokens  # vLLM / SGLang extension; others ignore it
        return body

    def _post(self, sample: Sample) -> Reply:
        try:
            reply = self.endpoint.chat(self._body(sample))
        except CallFailed as exc:
            raise UnmaskError(
                f"{self.url}: request for sample {sample.id!r} failed ({exc}); "
                "finished samples are kept, run the command again to resume"
            ) from None
        return Reply(reply.content.strip(), reply.finish_reason)

    def generate(self, samples: list[Sample]) -> list[Reply]:
        """One reply per sample: its text and the server's ``finish_reason`` ("length" = cut off at
        ``max_new_tokens``), which goes into the row."""
        futures = [self._pool.submit(self._post, s) for s in samples]
        try:
            return [f.result() for f in futures]
        except BaseException:  # one sample failed for good, or Ctrl-C: end the others' calls now
            for f in futures:
                f.cancel()
            self.endpoint.cancel()
            raise

    def notes(self) -> dict[str, Any]:
        """For the manifest: request fields changed for a server that rejected them (reasoning models:
        ``max_completion_tokens``, default sampling instead of greedy)."""
        return {"request_adapted": self.endpoint.adapted} if self.endpoint.adapted else {}

    def close(self) -> None:
        self.endpoint.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
