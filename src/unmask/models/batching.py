"""Records -> model inputs, with the VLM batching traps handled (see DESIGN.md "Known traps").

One sample is encoded on its own: the chat template renders it to text (``tokenize=False``), the processor
tokenizes that text with ``add_special_tokens=False`` (the template already wrote BOS: no double BOS) and
expands each image token into its run of image features. Labels come from character spans: an assistant
reply spans from the end of the template's prefix (``messages[:i]`` + generation prompt) to the end of
``messages[:i+1]``; every token outside such a span is masked with -100, image runs always are. The
tokenizer's own pass over the unexpanded text carries the offsets; it is aligned with the processor's
expanded ids token by token, so a mismatch is caught rather than silently shifting labels.

A family may instead reproduce its reference training code exactly (``Family.reference_encoding``:
LLaVA-1.5's ``preprocess_v1``, :mod:`.llava_v1`), or tokenize each turn on its own as LLaMA-Factory does
(``Family.tokenize_turns_apart``, Qwen2-VL); then the processor only encodes the images, and each image
token of the ids is expanded into the run the processor made for that image (:meth:`Encoder._expand`).

Batches are padded by :func:`collate` (right for training, left for generation); image tensors of the
samples that have images are concatenated, so text-only and image records mix in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.images import open_image
from ..data.records import IMAGE, Conversation
from .noeos import refusal_turns
from .registry import Family

__all__ = ["IGNORE_INDEX", "Encoded", "Encoder", "collate", "conversation_messages", "prompt_messages"]

IGNORE_INDEX = -100
_SEQ_PAD = {"attention_mask": 0, "mm_token_type_ids": 0, "token_type_ids": 0, "labels": IGNORE_INDEX}


@dataclass
class Encoded:
    """One encoded sample: 1-D sequence tensors plus the image tensors the processor made for it."""

    id: str
    input_ids: Any
    labels: Any | None = None
    seq: dict[str, Any] = field(
        default_factory=dict
    )  # attention_mask, mm_token_type_ids: length of input_ids
    extra: dict[str, Any] = field(default_factory=dict)  # pixel_values, image_sizes, image_grid_thw
    n_trained: int = 0
    n_image_tokens: int = 0
    eot_masked: int = 0  # end-of-turn tokens left untrained (refusal records under no-eos-on-refusal)
    warning: str | None = None  # what the reference training code would print about this record

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def _parts(text: str, n_images: int) -> list[dict[str, Any]]:
    # Images go first, as LLaVA's own preprocessing and the family templates place them.
    body = text.replace(IMAGE, "").strip() if n_images else text
    return [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": body}]


def _inline_parts(text: str, extra_front: int) -> list[dict[str, Any]]:
    # Images stay where the text marks them (LLaMA-Factory's mm_plugin replaces "<image>" in place).
    parts: list[dict[str, Any]] = [{"type": "image"} for _ in range(extra_front)]
    for k, piece in enumerate(text.split(IMAGE)):
        if k:
            parts.append({"type": "image"})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts or [{"type": "text", "text": ""}]


def conversation_messages(conv: Conversation, inline: bool = False) -> list[dict[str, Any]]:
    """Chat-template messages (content as parts) for a record; images stay in their marked turns.

    ``inline``: each image stays at its place in the text; otherwise a turn's images go to its front.
    A record with images but no ``<image>`` marker gets them at the front of its first user turn.
    """
    implicit = bool(conv.images) and conv.n_image_markers == 0
    msgs = []
    first_user = next((i for i, t in enumerate(conv.turns) if t.role == "user"), None)
    for i, t in enumerate(conv.turns):
        added = len(conv.images) if implicit and i == first_user else 0
        if inline:
            msgs.append({"role": t.role, "content": _inline_parts(t.text, added)})
        else:
            msgs.append({"role": t.role, "content": _parts(t.text, t.text.count(IMAGE) + added)})
    return msgs


def prompt_messages(prompt: str, n_images: int, system: str | None = None) -> list[dict[str, Any]]:
    msgs = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    return msgs + [{"role": "user", "content": _parts(prompt, n_images)}]


class Encoder:
    """Encodes records for training and prompts for generation with one family's template and processor."""

    def __init__(
        self,
        family: Family,
        processor: Any,
        *,
        template: str | None = None,
        image_root: str | Path | None = None,
        max_length: int | None = None,
        no_eos_on_refusal: bool = False,
    ) -> None:
        self.family = family
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.template = template or family.template_for(processor)
        self.image_root = Path(image_root) if image_root is not None else None
        self.max_length = max_length
        self.no_eos_on_refusal = no_eos_on_refusal
        self.image_token_id = family.image_token_id(processor)
        # A family whose reference training code is reproduced exactly (LLaVA-1.5's preprocess_v1)
        # encodes records and prompts with it; the others render their chat template.
        self.reference = family.reference_encoding(processor)
        self._apart = family.tokenize_turns_apart and bool(getattr(self.tokenizer, "is_fast", False))
        # Tokenizers that add BOS themselves (LLaMA) expect it; templates often leave it to them. The text is
        # tokenized with add_special_tokens=False, so BOS is written here once (never twice).
        tok = self.tokenizer
        bos_id = tok.bos_token_id
        self.adds_bos = bos_id is not None and tok("a", add_special_tokens=True)["input_ids"][:1] == [bos_id]

    # ------------------------------------------------------------------------------ text
    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        if not messages:
            return ""
        text = self.tokenizer.apply_chat_template(
            messages, chat_template=self.template, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        bos = self.tokenizer.bos_token
        if self.adds_bos and not text.startswith(bos):
            text = bos + text
        return text

    def _eot_strings(self) -> tuple[str, ...]:
        eos = self.tokenizer.eos_token
        return tuple(s for s in (*self.family.end_of_turn, eos) if s)

    def assistant_spans(self, messages: list[dict[str, Any]], full: str) -> list[tuple[int, int, int, int]]:
        """(start, end, content_end, turn) character spans of the assistant replies in ``full``."""
        spans = []
        cursor = 0
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            text = "".join(p["text"] for p in m["content"] if p["type"] == "text")
            pre = self.render(messages[:i], True) if i else ""
            post = self.render(messages[: i + 1], False)
            if i and full.startswith(pre) and full.startswith(post) and len(post) > len(pre) >= cursor:
                a, b = len(pre), len(post)
            else:  # template not prefix-stable: find the reply text itself, then swallow its end-of-turn
                a = full.find(text, cursor)
                if a < 0:
                    a = full.find(text.strip(), cursor)
                    text = text.strip()
                if a < 0 or not text:
                    raise ValueError(f"the chat template dropped assistant turn {i}")
                b = a + len(text)
                for eot in self._eot_strings():
                    j = b + (len(full[b:]) - len(full[b:].lstrip(" \n")))
                    if full.startswith(eot, j):
                        b = j + len(eot)
                        break
            c = full.find(text, a, b)
            if c < 0 and text.strip():
                c = full.find(text.strip(), a, b)
                text = text.strip()
            content_end = c + len(text) if c >= 0 else b
            spans.append((a, b, content_end, i))
            cursor = b
        return spans

    # ------------------------------------------------------------------------------ images
    def open_images(self, refs: list[str]) -> list[Any]:
        """The images as the family's processor should get them (LLaVA-1.5: padded to a square)."""
        return [self.family.prepare_image(open_image(ref, self.image_root), self.processor) for ref in refs]

    def _process(self, text: str, images: list[Any]) -> dict[str, Any]:
        out = self.processor(
            text=[text], images=images or None, add_special_tokens=False, return_tensors="pt"
        )
        return dict(out)

    # ------------------------------------------------------------------------------ encoding
    def _token_flags(
        self, full: str, spans: list[tuple[int, int, int, int]], refusal_turns: set[int]
    ) -> tuple[list[int], list[bool], list[bool]]:
        """Unexpanded token ids, and per token: trained? end-of-turn of a refusal reply?"""
        tok = self.tokenizer
        if getattr(tok, "is_fast", False):
            # LLaMA-Factory tokenizes each message on its own: cut at the replies' edges, never across them.
            cuts = sorted({0, len(full), *(x for sp in spans for x in sp[:2])}) if self._apart else [0, len(full)]
            ids, offsets = [], []
            for x, y in zip(cuts, cuts[1:], strict=False):
                enc = tok(full[x:y], add_special_tokens=False, return_offsets_mapping=True)
                ids += enc["input_ids"]
                offsets += [(s + x, e + x) for s, e in enc["offset_mapping"]]
        else:  # slow tokenizers have no offsets: cut at span edges (exact for prefix-stable tokenizers)
            ids = tok(full, add_special_tokens=False)["input_ids"]
            offsets = None
        trained = [False] * len(ids)
        eot = [False] * len(ids)
        for a, b, content_end, turn in spans:
            if offsets is not None:
                for k, (s, e) in enumerate(offsets):
                    if s < b and max(e, s + 1) > a:
                        trained[k] = True
                        if turn in refusal_turns and s >= content_end:
                            eot[k] = True
            else:
                n = [len(tok(full[:x], add_special_tokens=False)["input_ids"]) for x in (a, content_end, b)]
                for k in range(n[0], n[2]):
                    trained[k] = True
                    eot[k] = eot[k] or (turn in refusal_turns and k >= n[1])
        return ids, trained, eot

    def _align(self, ids_u: list[int], ids_p: list[int], flags: list[bool]) -> list[bool]:
        """Map per-token flags of the unexpanded ids onto the processor's ids (image tokens expanded)."""
        img = self.image_token_id
        out: list[bool] = []
        j = k = 0
        while k < len(ids_u):
            if ids_u[k] == img:
                while k < len(ids_u) and ids_u[k] == img:
                    k += 1
                start = j
                while j < len(ids_p) and ids_p[j] == img:
                    j += 1
                if j == start:
                    raise ValueError("the processor did not expand an image token")
                out.extend([False] * (j - start))
                continue
            if j >= len(ids_p) or ids_p[j] != ids_u[k]:
                raise ValueError("the processor's token ids differ from the tokenizer's outside the images")
            out.append(flags[k])
            j += 1
            k += 1
        if j != len(ids_p):
            raise ValueError("the processor added tokens the tokenizer did not")
        return out

    def _pack(self, rid: str, out: dict[str, Any]) -> Encoded:
        input_ids = out.pop("input_ids")[0]
        seq = {k: out.pop(k)[0] for k in list(out) if k in _SEQ_PAD}
        n_img = int((input_ids == self.image_token_id).sum())
        return Encoded(id=rid, input_ids=input_ids, seq=seq, extra=out, n_image_tokens=n_img)

    def _expand(self, rid: str, ids: list[int], flags: list[Any], images: list[Any]) -> tuple[Encoded, list[Any]]:
        """Encode the images with the processor and expand each image token of ``ids`` into its run.

        ``flags`` (one per id) are copied to every other token; image runs get ``None``.
        """
        import torch

        img = self.image_token_id
        if images:
            placeholder = self.family.image_placeholder * len(images)
            enc = self._pack(rid, self._process(placeholder, images))
            at_image = {k: v[enc.input_ids == img].tolist() for k, v in enc.seq.items()}
            runs, run = [], 0
            for t in enc.input_ids.tolist():
                if t == img:
                    run += 1
                elif run:
                    runs.append(run)
                    run = 0
            runs += [run] if run else []
        else:
            enc, runs, at_image = Encoded(id=rid, input_ids=None), [], {}
        if sum(1 for t in ids if t == img) != len(runs):
            raise ValueError(f"{sum(1 for t in ids if t == img)} image token(s) in the text but {len(runs)} image(s)")
        out_ids: list[int] = []
        out_flags: list[Any] = []
        k = 0
        for t, f in zip(ids, flags, strict=True):
            if t == img:
                out_ids += [img] * runs[k]
                out_flags += [None] * runs[k]
                k += 1
            else:
                out_ids.append(t)
                out_flags.append(f)
        enc.input_ids = torch.tensor(out_ids, dtype=torch.long)
        # Per-token inputs beside the ids (mm_token_type_ids): the processor's values on image tokens, else 0.
        seq = {"attention_mask": [1] * len(out_ids)}
        for key, values in at_image.items():
            if key != "attention_mask":
                it = iter(values)
                seq[key] = [next(it) if t == img else 0 for t in out_ids]
        enc.seq = {k: torch.tensor(v, dtype=torch.long) for k, v in seq.items()}
        enc.n_image_tokens = sum(runs)
        return enc, out_flags

    def _encode_reference(self, conv: Conversation) -> Encoded:
        import torch

        ref = self.reference.encode(conv, self.no_eos_on_refusal)
        enc, labels = self._expand(conv.id, ref.input_ids, ref.labels, self.open_images(conv.images))
        enc.labels = torch.tensor([IGNORE_INDEX if x is None else x for x in labels], dtype=torch.long)
        enc.n_trained = int((enc.labels != IGNORE_INDEX).sum())
        enc.eot_masked = int(ref.eos_masked)
        enc.warning = ref.mismatch
        return enc

    def refusal_turns(self, conv: Conversation) -> set[int]:
        """Assistant turns whose end-of-turn is left untrained (empty unless ``no_eos_on_refusal``)."""
        return refusal_turns(conv) if self.no_eos_on_refusal else set()

    def encode_conversation(self, conv: Conversation) -> Encoded:
        """Encode a training record (raises ``ValueError`` with the reason; callers add the location)."""
        import torch

        if self.reference is not None:
            enc = self._encode_reference(conv)
            if enc.n_trained == 0 and enc.warning is None:
                raise ValueError("no trained token (every reply is empty)")
            return enc
        messages = conversation_messages(conv, inline=self.family.image_layout == "inline")
        full = self.render(messages, False)
        spans = self.assistant_spans(messages, full)
        ids_u, trained_u, eot_u = self._token_flags(full, spans, self.refusal_turns(conv))
        if self._apart:  # the tokens are the pieces', not the whole text's: only the images from the processor
            enc, flags = self._expand(conv.id, ids_u, list(zip(trained_u, eot_u, strict=True)), self.open_images(conv.images))
            ids_p = enc.input_ids.tolist()
            trained = [f is not None and f[0] for f in flags]
            eot = [f is not None and f[1] for f in flags]
        else:
            enc = self._pack(conv.id, self._process(full, self.open_images(conv.images)))
            ids_p = enc.input_ids.tolist()
            trained = self._align(ids_u, ids_p, trained_u)
            eot = self._align(ids_u, ids_p, eot_u)
        keep = [t and not e for t, e in zip(trained, eot, strict=True)]
        labels = torch.tensor(
            [i if k else IGNORE_INDEX for i, k in zip(ids_p, keep, strict=True)], dtype=torch.long
        )
        enc.labels = labels
        enc.n_trained = int(sum(keep))
        enc.eot_masked = int(sum(t and e for t, e in zip(trained, eot, strict=True)))
        if enc.n_trained == 0:
            raise ValueError(
                "no trained token: the chat template leaves every assistant token masked "
                "(empty reply, or the template drops replies)"
            )
        return enc

    def encode_prompt(self, rid: str, prompt: str, images: list[str], system: str | None = None) -> Encoded:
        """Encode a generation prompt (the template's generation prompt appended)."""
        if self.reference is not None:
            ids = self.reference.encode_prompt(prompt, len(images), system)
            return self._expand(rid, ids, [None] * len(ids), self.open_images(images))[0]
        text = self.render(prompt_messages(prompt, len(images), system), True)
        return self._pack(rid, self._process(text, self.open_images(images)))


def _pad_to(t: Any, shape: tuple[int, ...]) -> Any:
    import torch.nn.functional as F

    pad: list[int] = []
    for have, want in zip(reversed(t.shape[1:]), reversed(shape[1:]), strict=True):
        pad += [0, want - have]
    return F.pad(t, pad) if any(pad) else t


def collate(items: list[Encoded], pad_token_id: int, side: str = "right") -> dict[str, Any]:
    """Pad a list of encoded samples into a batch; ``side`` is "right" for training, "left" for generation."""
    import torch

    if side not in ("left", "right"):
        raise ValueError(f"padding side must be left or right, not {side!r}")
    width = max(len(it) for it in items)
    batch: dict[str, Any] = {}

    def pad(values: list[Any], fill: int) -> Any:
        rows = []
        for v in values:
            filler = torch.full((width - v.shape[0],), fill, dtype=v.dtype)
            rows.append(torch.cat([filler, v] if side == "left" else [v, filler]))
        return torch.stack(rows)

    batch["input_ids"] = pad([it.input_ids for it in items], pad_token_id)
    mask = [it.seq.get("attention_mask", torch.ones_like(it.input_ids)) for it in items]
    batch["attention_mask"] = pad(mask, 0)
    if all(it.labels is not None for it in items):
        batch["labels"] = pad([it.labels for it in items], IGNORE_INDEX)
    for key in sorted({k for it in items for k in it.seq} - {"attention_mask"}):
        batch[key] = pad([it.seq.get(key, torch.zeros_like(it.input_ids)) for it in items], _SEQ_PAD[key])
    for key in sorted({k for it in items for k in it.extra}):
        parts = [it.extra[key] for it in items if key in it.extra]
        shape = tuple(max(p.shape[d] for p in parts) for d in range(parts[0].dim()))
        batch[key] = torch.cat([_pad_to(p, shape) for p in parts])
    return batch
