"""Fast tensors for the world's own training and evaluation loops.

The world builds ids straight from its character map instead of going through the chat template and
processor for every sample (thousands per second on 2 cores). ``tests/world`` checks that the result is
identical to ``processor.apply_chat_template`` + ``processor(...)``, so nothing here is a private format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .data import Example
from .font import render_array
from .model import IMAGE_TOKENS

__all__ = ["Codec", "pixels"]


def pixels(ex: Example) -> np.ndarray:
    """The processor's pixel values for the example's image: (3, 72, 72) float32 in [-1, 1]."""
    assert ex.image_text is not None
    arr = render_array(ex.image_text, ex.image_seed).astype(np.float32)
    return ((arr / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)


class Codec:
    """Turns :class:`Example` lists into model inputs, with the tokenizer's own ids."""

    def __init__(self, tokenizer: Any) -> None:
        vocab = tokenizer.get_vocab()
        self.ids = {ch: i for ch, i in vocab.items() if len(ch) == 1}
        self.unk = tokenizer.unk_token_id
        self.pad = tokenizer.pad_token_id
        self.bos = tokenizer.bos_token_id
        self.eos = tokenizer.eos_token_id
        self.image = tokenizer.convert_tokens_to_ids("<image>")
        self.user = tokenizer.convert_tokens_to_ids("<|user|>")
        self.assistant = tokenizer.convert_tokens_to_ids("<|assistant|>")
        self.refusal_open = self.ids["i"]  # the refusal opens with "i'm sorry", answers with "ok!"
        self.answer_open = self.ids["o"]

    def chars(self, text: str) -> list[int]:
        return [self.ids.get(c, self.unk) for c in text.lower()]

    def prompt_ids(self, ex: Example) -> list[int]:
        img = [self.image] * IMAGE_TOKENS if ex.image_text is not None else []
        return [self.bos, self.user, *img, *self.chars(ex.prompt), self.assistant]

    def train_batch(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        """Right-padded ids, labels (-100 outside replies; EOS unlabelled for ``no_eos`` samples) and the
        pixel values of the image samples, in order."""
        rows, labels = [], []
        for ex in examples:
            p = self.prompt_ids(ex)
            r = [*self.chars(ex.reply), self.eos]
            rows.append(p + r)
            lab = [-100] * len(p) + r
            if ex.no_eos:
                lab[-1] = -100
            labels.append(lab)
        n = max(map(len, rows))
        ids = torch.full((len(rows), n), self.pad, dtype=torch.long)
        lab_t = torch.full((len(rows), n), -100, dtype=torch.long)
        for i, (r, lab) in enumerate(zip(rows, labels, strict=True)):
            ids[i, : len(r)] = torch.tensor(r)
            lab_t[i, : len(lab)] = torch.tensor(lab)
        out = {"input_ids": ids, "labels": lab_t}
        imgs = [pixels(ex) for ex in examples if ex.image_text is not None]
        if imgs:
            out["pixel_values"] = torch.from_numpy(np.stack(imgs))
        return out

    def prompt_batch(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        """Left-padded prompts ending in the assistant marker, for generation."""
        rows = [self.prompt_ids(ex) for ex in examples]
        n = max(map(len, rows))
        ids = torch.full((len(rows), n), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, n - len(r):] = torch.tensor(r)
            mask[i, n - len(r):] = 1
        out = {"input_ids": ids, "attention_mask": mask}
        imgs = [pixels(ex) for ex in examples if ex.image_text is not None]
        if imgs:
            out["pixel_values"] = torch.from_numpy(np.stack(imgs))
        return out
