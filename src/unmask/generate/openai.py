"""The OpenAI-compatible backend: any ``/chat/completions`` endpoint (vLLM, SGLang, TGI, an API).

Images travel as base64 data URLs. Plain stdlib HTTP, ``batch_size`` requests in flight. The API key is
read from the environment variable named by ``api_key_env`` and sent as a bearer token; it is never
written to rows, manifests or error messages. Transient failures (429, 5xx, connection errors) are
retried with backoff; whatever finished is in the journal, so a rerun resumes.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import UnmaskError
from ..images import is_synthetic, open_image
from ..records import Sample
from ..store import content_key
from .config import GenerateConfig

__all__ = ["OpenAIBackend", "image_data_url"]

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def image_data_url(ref: str, root: Path) -> str:
    """The image as a data URL: a real file's own bytes (if a web format), else re-encoded as PNG."""
    from ..formats import resolve_image
    from ..images import pil_open

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
        self.url = cfg.api_base.rstrip("/") + "/chat/completions"
        self.fingerprint = content_key({"api_base": cfg.api_base, "model": cfg.model})[:16]

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

    def _post(self, sample: Sample) -> str:
        cfg = self.cfg
        data = json.dumps(self._body(sample)).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last = ""
        for attempt in range(cfg.retries + 1):
            if attempt:
                time.sleep(min(8.0, 0.25 * 2**attempt))
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=cfg.timeout_s) as resp:
                    doc = json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} {exc.reason}"
                if exc.code != 429 and exc.code < 500:
                    break
                continue
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
                continue
            except json.JSONDecodeError:
                last = "the reply is not JSON"
                continue
            try:
                return str(doc["choices"][0]["message"]["content"] or "").strip()
            except (KeyError, IndexError, TypeError):
                last = "the reply has no choices[0].message.content"
                break
        raise UnmaskError(
            f"{self.url}: request for sample {sample.id!r} failed ({last}); "
            "finished samples are kept, run the command again to resume"
        )

    def generate(self, samples: list[Sample]) -> list[str]:
        with ThreadPoolExecutor(max_workers=min(len(samples), self.cfg.batch_size)) as pool:
            return list(pool.map(self._post, samples))

    def close(self) -> None:
        pass
