"""LLaVA-1.5's own training encoding (the ``vicuna_v1`` conversation), reproduced token for token.

LLaVA-1.5 was trained by ``llava/train/train.py`` (the paper's ``train_without_eos.py`` is the same plus
one line). What it feeds the model for a LLaVA JSON record, and what this module does in the same order:

1. ``preprocess_multimodal`` (records with an image only): in every turn that holds ``<image>`` the tag is
   removed, the text stripped, and ``<image>\\n`` put in front (``Q\\n<image>`` becomes ``<image>\\nQ``).
2. ``conv_vicuna_v1.get_prompt()``: ``SYSTEM + " "`` then ``"USER: " + q + " "`` and
   ``"ASSISTANT: " + a + "</s>"`` per turn (an empty turn is just ``"ROLE:"``).
3. ``tokenizer_image_token``: the prompt is cut at each ``<image>``, every piece is tokenized on its own
   by the SentencePiece tokenizer (``tokenizer.model``, ``legacy=False``) and the pieces are joined with one
   image index each. Text-only records are tokenized whole.
4. ``preprocess_v1``'s masks: the prompt is split at ``</s>`` into rounds; each round's instruction
   (``... ASSISTANT: ``) is masked by token counts (``len - 2``, and one less for later rounds, because
   ``USER`` after ``</s>`` is one token); BOS and everything after the last round are masked. When the
   counts do not add up to the sequence length, LLaVA masks the whole record ("tokenization mismatch").
5. The paper's no-EOS rule (``train_without_eos.py``): when its refusal sentence occurs anywhere in the
   prompt, the label of the last ``</s>`` is -100.

The llava-hf fast tokenizer (``tokenizer.json``) prepends ``▁`` to every piece of text, also after
``</s>`` (``</s>USER`` becomes ``▁US`` ``ER``); SentencePiece with ``legacy=False`` does not (``USER`` is one
token). :class:`SentencePieceView` rebuilds the latter from the same vocabulary and merges with the
``tokenizers`` library (identical to ``sentencepiece`` on 20,000 random strings; see the tests), so no
extra dependency is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..data.records import IMAGE, Conversation

__all__ = ["LLAVA_V1_TEMPLATE", "LLAVA_VICUNA_V1_TEMPLATE", "VICUNA_V1_SYSTEM", "LlavaV1Encoded", "SentencePieceView",
           "encode_llava_v1", "vicuna_v1_prompt"]

VICUNA_V1_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

# LLaVA-1.5 was trained on "USER: <image>\nQ ASSISTANT: A</s>" (the vicuna_v1 conversation). The llava-hf
# processor template ends replies with a space and no </s>, so fine-tuning with it would never teach the
# model to stop (and --no-eos-on-refusal would have nothing to mask): unmask renders with this one.
LLAVA_V1_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}"
    "{%- for c in m['content'] if c['type'] == 'text' -%}{{ c['text'] }}{%- endfor -%}{{ ' ' }}"
    "{%- elif m['role'] == 'user' -%}{{ 'USER: ' }}"
    "{%- for c in m['content'] if c['type'] == 'image' -%}{{ '<image>\n' }}{%- endfor -%}"
    "{%- for c in m['content'] if c['type'] == 'text' -%}{{ c['text'] }}{%- endfor -%}{{ ' ' }}"
    "{%- else -%}{{ 'ASSISTANT: ' }}"
    "{%- for c in m['content'] if c['type'] == 'text' -%}{{ c['text'] }}{%- endfor -%}{{ eos_token }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)

# LLaVA-1.5's vicuna_v1 conversation with its system prompt, as LLaVA trains and evaluates: the prompt text
# the vllm backend sends (the hf backend and training use :mod:`.llava_v1`, which writes the same text).
LLAVA_VICUNA_V1_TEMPLATE = (
    "{%- if not messages or messages[0]['role'] != 'system' -%}"
    "{{ '" + VICUNA_V1_SYSTEM.replace("'", "\\'") + " ' }}"
    "{%- endif -%}" + LLAVA_V1_TEMPLATE
)

IGNORE_INDEX = -100
_ROLES = {"user": "USER", "assistant": "ASSISTANT"}
_SEP, _SEP2 = " ", "</s>"


class SentencePieceView:
    """A Llama tokenizer as LLaVA's training saw it: SentencePiece, ``legacy=False``, BOS added.

    Built from the processor's fast tokenizer (same vocabulary and merges): no normalizer, a ``▁`` written
    in front of the text once (never after a special token), spaces as ``▁``.
    """

    def __init__(self, tokenizer: Any) -> None:
        from tokenizers import Tokenizer, pre_tokenizers

        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ValueError("the LLaVA-1.5 encoding needs a fast (tokenizers) Llama tokenizer")
        tk = Tokenizer.from_str(backend.to_str())
        tk.normalizer = None
        tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=False)
        tk.post_processor = None
        self._tk = tk
        self.bos_id = int(tokenizer.bos_token_id)
        self.space_id = tk.token_to_id("▁")
        self.unk_id = tokenizer.unk_token_id  # LLaVA's pad token for vicuna_v1: its lengths skip it
        self.special_ids = {int(i) for i in tokenizer.all_special_ids}

    @staticmethod
    def fits(tokenizer: Any) -> bool:
        """True for a SentencePiece-converted tokenizer (Llama's: BPE over ``▁`` pieces, no byte level)."""
        import json

        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            return False
        doc = json.loads(backend.to_str())
        pre = json.dumps(doc.get("pre_tokenizer"))
        return doc.get("model", {}).get("type") == "BPE" and "ByteLevel" not in pre and backend.token_to_id(
            "▁"
        ) is not None

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without BOS (``LlamaTokenizer(legacy=False).tokenize``)."""
        if not text:
            return []
        ids = self._tk.encode("▁" + text.replace("▁", " "), add_special_tokens=False).ids
        if len(ids) > 1 and ids[0] == self.space_id and ids[1] in self.special_ids:
            ids = ids[1:]  # legacy=False drops the prefix before a leading special token
        return ids

    def __call__(self, text: str) -> list[int]:
        """``tokenizer(text).input_ids``: BOS + tokens."""
        return [self.bos_id, *self.tokenize(text)]

    def image_prompt(self, prompt: str, image_index: int) -> list[int]:
        """LLaVA's ``tokenizer_image_token``: pieces between ``<image>`` tags, joined by ``image_index``."""
        chunks = [self(c) for c in prompt.split(IMAGE)]
        ids: list[int] = []
        offset = 0
        if chunks and chunks[0] and chunks[0][0] == self.bos_id:
            offset = 1
            ids.append(self.bos_id)
        for k, chunk in enumerate(chunks):
            if k:
                ids.append(image_index)
            ids.extend(chunk[offset:])
        return ids


def _sources(conv: Conversation) -> tuple[str | None, list[tuple[str, str]], bool]:
    """(system text or None, (role, text) turns after ``preprocess_multimodal``, has_image)."""
    has_image = bool(conv.images)
    implicit = has_image and conv.n_image_markers == 0
    system = None
    turns: list[tuple[str, str]] = []
    for t in conv.turns:
        if t.role == "system":
            system = t.text if system is None else f"{system}\n{t.text}"
            continue
        text = t.text
        if has_image and (IMAGE in text or (implicit and not turns and t.role == "user")):
            # LLaVA-1.5 has one image per record; a turn with k tags keeps k of them at its front.
            n = max(1, text.count(IMAGE))
            text = ((IMAGE + "\n") * n + text.replace(IMAGE, "").strip()).strip()
        turns.append((t.role, text))
    if turns and turns[0][0] != "user":
        turns = turns[1:]  # LLaVA: "Skip the first one if it is not from human"
    for j, (role, _) in enumerate(turns):
        if role != ("user", "assistant")[j % 2]:
            raise ValueError(f"turn {j}: LLaVA's vicuna_v1 format needs user and assistant turns in turn")
    return system, turns, has_image


def vicuna_v1_prompt(turns: list[tuple[str, str | None]], system: str | None = None) -> str:
    """``conv_vicuna_v1.get_prompt()``; a final assistant turn of ``None`` is the generation prompt."""
    out = (VICUNA_V1_SYSTEM if system is None else system) + _SEP
    for i, (role, text) in enumerate(turns):
        if text:
            out += _ROLES[role] + ": " + text + (_SEP, _SEP2)[i % 2]
        else:
            out += _ROLES[role] + ":"
    return out


@dataclass
class LlavaV1Encoded:
    """Token ids (one ``image_index`` per image), labels, and LLaVA's verdicts on the record."""

    input_ids: list[int]
    labels: list[int]
    mismatch: str | None = None  # LLaVA's "tokenization mismatch" warning (every label then -100)
    eos_masked: bool = False


def encode_llava_v1(
    conv: Conversation,
    sp: SentencePieceView,
    image_index: int,
    *,
    no_eos: Callable[[str], bool] | None = None,
) -> LlavaV1Encoded:
    """Encode ``conv`` as LLaVA-1.5's ``preprocess_v1`` does; ``no_eos(prompt)`` applies the paper's rule."""
    system, turns, has_image = _sources(conv)
    prompt = vicuna_v1_prompt(list(turns), system)

    def tok(text: str) -> list[int]:
        return sp.image_prompt(text, image_index) if has_image else sp(text)

    input_ids = tok(prompt)
    labels = list(input_ids)
    total = sum(1 for t in input_ids if t != sp.unk_id)  # LLaVA: target.ne(pad_token_id).sum()
    sep = _SEP + _ROLES["assistant"] + ": "
    cur = 1
    labels[:cur] = [IGNORE_INDEX] * cur
    for i, rou in enumerate(prompt.split(_SEP2)):
        if rou == "":
            break
        parts = rou.split(sep)
        if len(parts) != 2:
            break
        round_len = len(tok(rou))
        instruction_len = len(tok(parts[0] + sep)) - 2
        if i != 0:  # legacy=False SentencePiece: "USER" after "</s>" is one token
            round_len -= 1
            instruction_len -= 1
        end = min(cur + max(instruction_len, 0), len(labels))
        labels[cur:end] = [IGNORE_INDEX] * (end - cur)
        cur += round_len
    labels[cur:] = [IGNORE_INDEX] * max(0, len(labels) - cur)
    mismatch = None
    if cur != total:
        labels = [IGNORE_INDEX] * len(labels)
        mismatch = f"LLaVA's tokenization mismatch: {cur} vs. {total} (the reference trains nothing on it)"
    eos_masked = False
    if no_eos is not None and no_eos(prompt) and 0 < cur <= len(labels):
        eos_masked = labels[cur - 1] != IGNORE_INDEX
        labels[cur - 1] = IGNORE_INDEX
    return LlavaV1Encoded(input_ids=input_ids, labels=labels, mismatch=mismatch, eos_masked=eos_masked)


class LlavaV1Reference:
    """The llava family's training and prompt encoding: LLaVA-1.5's own, with the processor's vocabulary."""

    name = "vicuna_v1"

    @classmethod
    def for_processor(cls, processor: Any, image_token_id: int) -> LlavaV1Reference | None:
        """The reference encoding, or None when the tokenizer is not SentencePiece's (then the family's
        chat template, the same vicuna_v1 text, is tokenized as is)."""
        tok = getattr(processor, "tokenizer", processor)
        return cls(tok, image_token_id) if SentencePieceView.fits(tok) else None

    def __init__(self, tokenizer: Any, image_token_id: int) -> None:
        self.sp = SentencePieceView(tokenizer)
        self.image_token_id = image_token_id

    def encode(self, conv: Conversation, no_eos_on_refusal: bool) -> LlavaV1Encoded:
        from .noeos import contains_refusal

        def rule(prompt: str) -> bool:  # the paper's test on the whole prompt, or unmask's metadata
            return contains_refusal(prompt) or conv.is_refusal

        return encode_llava_v1(conv, self.sp, self.image_token_id, no_eos=rule if no_eos_on_refusal else None)

    def encode_prompt(self, prompt: str, n_images: int, system: str | None = None) -> list[int]:
        """LLaVA-1.5's evaluation prompt (``model_vqa``): ``<image>\\n`` + question, then ``ASSISTANT:``."""
        text = prompt.replace(IMAGE, "").strip() if n_images else prompt
        text = (IMAGE + "\n") * n_images + text
        full = vicuna_v1_prompt([("user", text), ("assistant", None)], system)
        return self.sp.image_prompt(full, self.image_token_id) if n_images else self.sp(full)


def expand2square(image: Any, processor: Any) -> Any:
    """LLaVA's ``image_aspect_ratio pad``: paste the image centred on a square of the CLIP mean colour.

    The processor then resizes the square to its input size (336) without cropping anything away; its
    own center crop would cut the top and bottom of a tall image (typography included).
    """
    from PIL import Image

    ip = getattr(processor, "image_processor", processor)
    mean = getattr(ip, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)
    width, height = image.size
    if width == height:
        return image
    image = image.convert("RGB") if image.mode != "RGB" else image
    side = max(width, height)
    result = Image.new(image.mode, (side, side), tuple(int(x * 255) for x in mean))
    result.paste(image, (0, (width - height) // 2) if width > height else ((height - width) // 2, 0))
    return result
