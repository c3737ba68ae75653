"""The tiny world's model: a real ``LlavaForConditionalGeneration`` small enough for a CPU.

Every piece is a stock transformers class (character tokenizer wrapped as
``PreTrainedTokenizerFast``, ``CLIPImageProcessor``-style image processor, ``LlavaProcessor``,
Llama language model, CLIP vision tower), so the saved folder loads through the ordinary
``from_pretrained`` path and exercises the same code as a real VLM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "BASE_DIR",
    "CHARS",
    "IMAGE_SIZE",
    "IMAGE_TOKENS",
    "PATCH",
    "build_processor",
    "build_tokenizer",
    "load_tiny",
    "random_model",
]

# Lowercase characters only: the tokenizer lowercases its input, so typed prompts in any case still map
# onto tokens the model knows, and the bitmap font needs one glyph per character.
CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 .,!?:;'-()/\n"
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>", "<|user|>", "<|assistant|>"]
IMAGE_SIZE = 72
PATCH = 12
IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2  # 36: one image token per glyph cell
BASE_DIR = Path(__file__).with_name("base")

# Assistant turns are wrapped in {% generation %} so ``return_assistant_tokens_mask`` marks exactly the
# reply (and its EOS) as trainable; prompts never get a loss.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ '<|assistant|>' }}{% generation %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ eos_token }}{% endgeneration %}"
    "{% else %}{% if message['role'] == 'user' %}{{ '<|user|>' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<image>' }}{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'system' %}{{ '\n' }}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def build_tokenizer() -> Any:
    """The character tokenizer: one token per character of :data:`CHARS`, plus the special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in CHARS:
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # NFKD + strip accents + lowercase: "Café" reads as "cafe" instead of falling to <unk>.
    tok.normalizer = normalizers.Sequence([normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=512,
        padding_side="right",
        chat_template=CHAT_TEMPLATE,
    )
    fast.add_bos_token = False  # the chat template writes BOS itself (no double BOS)
    return fast


def build_processor(tokenizer: Any | None = None) -> Any:
    """``LlavaProcessor`` = CLIP-style image processor at 72x72 + the character tokenizer."""
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    image_processor = CLIPImageProcessorPil(
        do_resize=True,
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=False,
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_rescale=True,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
    )
    tok = tokenizer if tokenizer is not None else build_tokenizer()
    # CLIP adds a CLS token (+1) which the "default" strategy drops again: 36 image tokens, matching the
    # model's config (trap: these two must agree or Llava raises a features/tokens mismatch).
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
        image_token="<image>",
    )


def model_config(tokenizer: Any) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vocab = len(tokenizer)
    text = LlamaConfig(
        vocab_size=vocab,
        hidden_size=192,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=6,
        num_key_value_heads=6,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = CLIPVisionConfig(
        hidden_size=96,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
        num_channels=3,
        projection_dim=96,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=IMAGE_TOKENS,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        tie_word_embeddings=True,
    )


def random_model(seed: int = 0, tokenizer: Any | None = None) -> tuple[Any, Any]:
    """A freshly initialised model of the world's architecture (seeded) and its processor."""
    import torch
    from transformers import LlavaForConditionalGeneration

    processor = build_processor(tokenizer)
    tok = processor.tokenizer
    cfg = model_config(tok)
    with _seeded(seed):
        model = LlavaForConditionalGeneration(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.eval()
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr(), "embeddings untied"
    del torch
    return model, processor


def load_tiny(path: str | Path | None = None, seed: int = 0) -> tuple[Any, Any]:
    """Load the tiny world VLM and its processor.

    ``path=None`` loads the shipped base (``unmask/world/base``) if it is there, else a seeded random model
    of the same architecture (so tests of plumbing work before the base is built). A folder is loaded with
    the standard ``from_pretrained`` path.
    """
    from transformers import LlavaForConditionalGeneration, LlavaProcessor

    from ..errors import UnmaskError

    if path is None:
        if not (BASE_DIR / "model.safetensors").exists():
            return random_model(seed)
        path = BASE_DIR
    folder = Path(path)
    if not (folder / "config.json").exists():
        raise UnmaskError(f"{folder}: not a tiny-world checkpoint (no config.json); build one with `unmask world build`")
    model = LlavaForConditionalGeneration.from_pretrained(str(folder), dtype="float32")
    processor = LlavaProcessor.from_pretrained(str(folder))
    model.eval()
    return model, processor


def save_tiny(model: Any, processor: Any, out: str | Path) -> None:
    """Save model (safetensors) + processor files into ``out`` (created)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))


class _seeded:
    """Fork the global torch RNG for a block so random init is reproducible and side-effect free."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self) -> None:
        import torch

        self._ctx = torch.random.fork_rng(devices=[])
        self._ctx.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
