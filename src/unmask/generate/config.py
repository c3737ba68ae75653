"""Generation settings (the benchmark folder reader, :func:`read_bench`, lives in :mod:`unmask.data.bench`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from ..data.bench import read_bench  # noqa: F401  (re-exported)
from ..errors import UnmaskError
from .backend import BACKENDS

__all__ = ["BACKENDS", "GenerateConfig", "parse_shard", "read_bench", "shard_slice"]



def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` (0 <= i < n) -> (i, n)."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UnmaskError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise UnmaskError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


def shard_slice(count: int, shard: tuple[int, int] | None) -> slice:
    """Contiguous shards, so merging them in shard order restores the benchmark order."""
    if shard is None:
        return slice(0, count)
    i, n = shard
    return slice(count * i // n, count * (i + 1) // n)


class GenerateConfig(BaseModel):
    """One generation run; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description="'tiny', a model folder or hub id (hf, vllm); the served model name (openai)"
    )
    bench: str = Field(description="benchmark folder with samples.jsonl")
    out: str = Field(description="output JSONL of Generation rows")
    adapter: str | None = None
    family: str | None = None
    processor: str | None = None
    backend: str = Field("hf", description="hf, openai, vllm, or one a plugin registers (unmask.generate.backend)")
    batch_size: int = Field(16, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    min_new_tokens: int = Field(0, ge=0)
    do_sample: bool = False
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = 0
    system_prompt: str | None = None
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str | None = None
    trust_remote_code: bool = False
    shard: str | None = None
    limit: int | None = Field(None, ge=1)
    api_base: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(120.0, gt=0)
    retries: int = Field(3, ge=0)
    progress: bool = True
    defences: list[str] = Field(default_factory=list, description="inference-time defences: prompt, ocr-text, "
                                "caption (see unmask.generate.defences); applied in that fixed order")
    defence_text: str | None = Field(None, description="the prompt defence's text (default: AdaShield-S's)")
    ocr_engine: Literal["tesseract", "rapidocr"] = "tesseract"

    @field_validator("defences", mode="before")
    @classmethod
    def _defences(cls, v: Any) -> list[str]:
        from .defences import normalise_defences

        try:
            return normalise_defences(v)
        except UnmaskError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        if v not in BACKENDS:  # the registry's own message, without pydantic's "Value error, " in front
            try:
                BACKENDS.get(v)
            except UnmaskError as exc:
                raise PydanticCustomError("unknown_backend", "{msg}", {"msg": str(exc)}) from None
        return v

    @field_validator("shard")
    @classmethod
    def _shard(cls, v: str | None) -> str | None:
        parse_shard(v)
        return v

    def settings(self) -> dict[str, Any]:
        """What decides the output text (recorded on every row and in the cache key)."""
        s: dict[str, Any] = {
            "backend": self.backend,
            "max_new_tokens": self.max_new_tokens,
            "min_new_tokens": self.min_new_tokens,
            "do_sample": self.do_sample,
            "system_prompt": self.system_prompt,
        }
        if self.do_sample:
            s.update(temperature=self.temperature, top_p=self.top_p, seed=self.seed)
        if self.backend == "hf":
            s["dtype"] = self.dtype
        if self.backend == "openai":
            s["api_base"] = self.api_base
        if self.defences:  # only when defended: the keys of undefended runs stay what they were
            from ..attacks.defence_prompt import ADASHIELD_S
            from .defences import caption_prompts_id

            s["defences"] = list(self.defences)
            if "prompt" in self.defences:
                s["defence_text"] = self.defence_text if self.defence_text is not None else ADASHIELD_S
            if "ocr-text" in self.defences:
                s["ocr_engine"] = self.ocr_engine
            if "caption" in self.defences:
                s["caption_prompts"] = caption_prompts_id()
        return s
