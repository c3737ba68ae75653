"""The vLLM backend (optional extra ``unmask[vllm]``, GPU only; imported lazily).

Kept thin on purpose: prompts are rendered with the same family template as the ``hf`` backend (so the
two agree on what the model sees), images go in ``multi_modal_data``, and a LoRA adapter is applied per
request with ``LoRARequest`` (rank read from its ``adapter_config.json``). vLLM tokenizes the prompt text
itself and adds BOS when its tokenizer does, so the rendered text is passed without one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data.records import Sample
from ..data.store import content_key
from ..errors import UnmaskError
from .backend import backend
from .config import GenerateConfig

__all__ = ["VLLMBackend"]


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise UnmaskError(
            "the vllm backend needs vLLM, which is not installed: pip install 'unmask[vllm]' "
            "(on a GPU machine), or use --backend hf"
        ) from None
    return vllm


@backend("vllm")
class VLLMBackend:
    name = "vllm"

    def __init__(self, cfg: GenerateConfig) -> None:
        vllm = _import_vllm()
        from vllm.lora.request import LoRARequest

        from ..models.batching import Encoder
        from ..models.registry import builtin_family, detect_family, get_family

        if builtin_family(cfg.model) is not None:
            raise UnmaskError(f"the vllm backend needs a model folder or hub id; use --backend hf for {cfg.model!r}")
        fam = get_family(cfg.family) if cfg.family else detect_family(cfg.model)
        processor = fam.load_processor(cfg.processor or cfg.model, trust_remote_code=cfg.trust_remote_code)
        self.cfg = cfg
        self.encoder = Encoder(fam, processor, image_root=Path(cfg.bench))
        self.lora = None
        lora_kwargs: dict[str, Any] = {}
        if cfg.adapter:
            conf = Path(cfg.adapter) / "adapter_config.json"
            if not conf.is_file():
                raise UnmaskError(f"{cfg.adapter}: not a LoRA adapter folder (no adapter_config.json)")
            rank = int(json.loads(conf.read_text()).get("r", 16))
            lora_kwargs = {"enable_lora": True, "max_lora_rank": max(8, rank)}
            self.lora = LoRARequest("unmask-adapter", 1, str(Path(cfg.adapter).resolve()))
        self.llm = vllm.LLM(
            model=cfg.model,
            dtype=cfg.dtype,
            seed=cfg.seed,
            trust_remote_code=cfg.trust_remote_code,
            limit_mm_per_prompt={"image": 1},
            **lora_kwargs,
        )
        self.params = vllm.SamplingParams(
            temperature=cfg.temperature if cfg.do_sample else 0.0,
            top_p=cfg.top_p if cfg.do_sample else 1.0,
            max_tokens=cfg.max_new_tokens,
            min_tokens=cfg.min_new_tokens,
            seed=cfg.seed if cfg.do_sample else None,
        )
        self.fingerprint = content_key({"vllm": cfg.model, "adapter": cfg.adapter})[:16]

    def _prompt(self, sample: Sample) -> dict[str, Any]:
        from ..models.batching import prompt_messages

        images = [sample.image] if sample.image else []
        text = self.encoder.render(prompt_messages(sample.prompt, len(images), self.cfg.system_prompt), True)
        bos = self.encoder.tokenizer.bos_token
        if self.encoder.adds_bos and bos and text.startswith(bos):
            text = text[len(bos) :]
        prompt: dict[str, Any] = {"prompt": text}
        if images:
            # The family's preparation (LLaVA-1.5: padded to a square), as in training and the hf backend.
            prompt["multi_modal_data"] = {"image": self.encoder.open_images(images[:1])[0]}
        return prompt

    def generate(self, samples: list[Sample]) -> list[str]:
        outs = self.llm.generate(
            [self._prompt(s) for s in samples], self.params, lora_request=self.lora, use_tqdm=False
        )
        self.last_counts = [len(o.outputs[0].token_ids) for o in outs]  # read by generate.defences
        return [o.outputs[0].text.strip() for o in outs]

    def close(self) -> None:
        self.llm = None
