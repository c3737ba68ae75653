"""The transformers backend: batched ``generate`` with left padding and the KV cache.

Each prompt is encoded on its own (chat template + processor), then the batch is left-padded with an
attention mask, so a padded row generates exactly what it would alone (greedy, fp32; tested).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.records import Sample
from .backend import backend
from .config import GenerateConfig

__all__ = ["HFBackend"]


@backend("hf")
class HFBackend:
    name = "hf"

    def __init__(self, cfg: GenerateConfig) -> None:
        import torch

        from ..models.batching import Encoder
        from ..models.loading import load_model

        device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.cfg = cfg
        self.loaded = load_model(
            cfg.model,
            family=cfg.family,
            processor=cfg.processor,
            adapter=cfg.adapter,
            dtype=cfg.dtype,
            device=device,
            trust_remote_code=cfg.trust_remote_code,
        )
        self.device = device
        self.fingerprint = self.loaded.fingerprint
        self.tokenizer = self.loaded.tokenizer
        self.tokenizer.padding_side = "left"
        self.encoder = Encoder(self.loaded.family, self.loaded.processor, image_root=Path(cfg.bench))
        stop = {self.tokenizer.eos_token_id}
        for t in self.loaded.family.end_of_turn:
            tid = self.tokenizer.convert_tokens_to_ids(t)
            if tid is not None and tid != self.tokenizer.unk_token_id:
                stop.add(tid)
        self.stop_ids = sorted(i for i in stop if i is not None)
        self.static_cache = True
        self.last_counts: list[int] = []

    def encode(self, sample: Sample) -> Any:
        return self.encoder.encode_prompt(
            sample.id, sample.prompt, [sample.image] if sample.image else [], self.cfg.system_prompt
        )

    def generate(self, samples: list[Sample]) -> list[str]:
        import torch

        from ..models.batching import collate

        cfg = self.cfg
        items = [self.encode(s) for s in samples]
        batch = collate(items, self.tokenizer.pad_token_id, "left")
        dtype = next(self.loaded.model.parameters()).dtype
        batch = {
            k: (v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device))
            for k, v in batch.items()
        }
        kwargs: dict[str, Any] = dict(
            max_new_tokens=cfg.max_new_tokens,
            min_new_tokens=cfg.min_new_tokens,
            do_sample=cfg.do_sample,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.stop_ids,
            use_cache=True,
        )
        if cfg.do_sample:
            kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
            torch.manual_seed(cfg.seed)
        else:  # a checkpoint's generation_config may carry sampling defaults: greedy means greedy
            kwargs.update(temperature=None, top_p=None, top_k=None)
        out = None
        if self.static_cache:
            # A preallocated KV cache: the default one grows by concatenation, copying the whole cache at
            # every step, which dominates decoding for large batches. Same outputs (tested).
            try:
                with torch.inference_mode():
                    out = self.loaded.model.generate(
                        **batch, **kwargs, cache_implementation="static", disable_compile=True
                    )
            except (ValueError, NotImplementedError, TypeError):
                self.static_cache = False  # this architecture has no static cache: use the default one
        if out is None:
            with torch.inference_mode():
                out = self.loaded.model.generate(**batch, **kwargs)
        new = out[:, batch["input_ids"].shape[1] :]
        # Tokens each row generated (to its first stop token): what an inference-time defence's cost counts.
        stops = set(self.stop_ids)
        self.last_counts = [next((j + 1 for j, t in enumerate(row) if t in stops), len(row)) for row in new.tolist()]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]

    def close(self) -> None:
        self.loaded = None  # type: ignore[assignment]
