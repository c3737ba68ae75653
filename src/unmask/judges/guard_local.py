"""Run a guard model from a local folder: the text guards on their rendered prompt, the vision guards
through their processor's chat template. Greedy decoding; returns the raw answers for the strict parser."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UnmaskError
from .guards import GuardFormat
from .hf import _fingerprint, check_model_folder

__all__ = ["HARMBENCH_CLIP_TOKENS", "LocalGuard"]

HARMBENCH_CLIP_TOKENS = 512  # evaluate_completions.py --num_tokens default


class LocalGuard:
    """Load ``path`` once; :meth:`answers` gives one raw answer per item (or ``("error", reason)``)."""

    def __init__(self, path: Path, fmt: GuardFormat, device: str = "auto", trust_remote_code: bool = False):
        import torch

        path = check_model_folder(path, fmt.name)
        self.fmt = fmt
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        kw: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        if fmt.multimodal:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self.processor = AutoProcessor.from_pretrained(path, **kw)
            if not getattr(self.processor, "chat_template", None):
                raise UnmaskError(f"{path}: the processor has no chat template; {fmt.name} is prompted through it")
            self.tokenizer = self.processor.tokenizer
            self.model = AutoModelForImageTextToText.from_pretrained(path, use_safetensors=True, dtype=dtype, **kw)
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.processor = None
            self.tokenizer = AutoTokenizer.from_pretrained(path, **kw)
            self.model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, dtype=dtype, **kw)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.to(device).eval()
        self.fingerprint = f"{path.name}-{_fingerprint(path)}"

    def clip(self, response: str) -> str:
        """HarmBench scores the first 512 classifier tokens of an answer, as its evaluate_completions.py
        clips them: ``tokenizer.encode(generation, max_length=512, truncation=True)`` (BOS included in the
        512), then ``decode(..., skip_special_tokens=True)``."""
        if self.fmt.name != "harmbench-cls":
            return response
        ids = self.tokenizer.encode(response, max_length=HARMBENCH_CLIP_TOKENS, truncation=True)
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def prompt_text(self, item: dict) -> str:
        text = self.fmt.render(item.get("prompt") or "", self.clip(item["response"]))
        assert text is not None
        return text

    def _generate(self, enc: Any, max_new_tokens: int) -> list[str]:
        import torch

        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        return [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in new]

    def answers(self, items: Sequence[dict], max_new_tokens: int) -> list[str | tuple[str, str]]:
        if not self.fmt.multimodal:
            texts = [self.prompt_text(it) for it in items]
            enc = self.tokenizer(texts, return_tensors="pt", padding=True,
                                 add_special_tokens=self.fmt.add_bos).to(self.device)
            return list(self._generate(enc, max_new_tokens))
        out: list[str | tuple[str, str]] = []
        for it in items:  # one at a time: the image count varies per row
            images = []
            if it.get("image"):
                from ..attacks.kinds import open_picture

                try:
                    images = [open_picture(it["image"], f"row {it['id']}")]
                except UnmaskError as exc:
                    out.append(("error", f"image unreadable: {exc}"))
                    continue
            conv = self.fmt.hf_messages(it.get("prompt") or "", it["response"], len(images))
            text = self.processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
            enc = self.processor(text=[text], images=images or None, return_tensors="pt",
                                 add_special_tokens=False).to(self.device)
            out.extend(self._generate(enc, max_new_tokens))
        return out
