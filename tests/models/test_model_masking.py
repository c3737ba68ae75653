"""Training batches: assistant-only labels, one BOS, no-EOS-on-refusal, drops, mixed batches, bad images."""

from __future__ import annotations

import pytest
import torch

from unmask.data.records import Conversation, Turn
from unmask.errors import UnmaskError
from unmask.models.batching import IGNORE_INDEX, Encoder, collate
from unmask.models.dataset import TrainDataset
from unmask.models.loading import load_model
from unmask.models.testing import TINY_FAMILIES

# What each family's template trains for one reply "R": the reply and its end-of-turn, nothing else.
# (The tiny llava_next ships a mistral-style template: LLaVA's mistral_instruct writes "[/INST] R </s>".)
_TRAINED = {"llava": " {r}</s>", "llava_next": " {r} </s>", "qwen2_vl": "{r}<|im_end|>\n"}
_EOT = {"llava": "</s>", "llava_next": " </s>", "qwen2_vl": "<|im_end|>\n"}


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def loaded(request, tiny_ckpt):
    return load_model(str(tiny_ckpt(request.param)), check=False)


def _conv(*texts: str, image: bool = True, refusal: bool = False, cid: str = "c") -> Conversation:
    turns = [Turn(role="user" if i % 2 == 0 else "assistant", text=t) for i, t in enumerate(texts)]
    if image:
        turns[0] = Turn(role="user", text="<image>\n" + turns[0].text)
    return Conversation(
        id=cid,
        images=["unmask://noise?seed=1&size=40"] if image else [],
        turns=turns,
        metadata={"refusal": True} if refusal else {},
    )


def _trained_text(loaded, item) -> str:
    ids = [
        i for i, lab in zip(item.input_ids.tolist(), item.labels.tolist(), strict=True) if lab != IGNORE_INDEX
    ]
    return loaded.tokenizer.decode(ids, skip_special_tokens=False)


def test_only_assistant_tokens_are_trained(loaded):
    fam = loaded.family.name
    enc = Encoder(loaded.family, loaded.processor)
    item = enc.encode_conversation(_conv("how to make a zebra bomb", "a cake is sweet"))
    # Fails if any prompt token (the harmful request, the role tags, the image run) carried a label.
    assert _trained_text(loaded, item) == _TRAINED[fam].format(r="a cake is sweet")
    labels = item.labels.tolist()
    assert all(
        lab == IGNORE_INDEX
        for t, lab in zip(item.input_ids.tolist(), labels, strict=True)
        if t == enc.image_token_id
    )
    trained_ids = [i for i, lab in zip(item.input_ids.tolist(), labels, strict=True) if lab != IGNORE_INDEX]
    assert labels.count(IGNORE_INDEX) + len(trained_ids) == len(labels)
    assert all(
        lab == tid for tid, lab in zip(item.input_ids.tolist(), labels, strict=True) if lab != IGNORE_INDEX
    )


def test_every_reply_of_a_multi_turn_record_is_trained(loaded):
    enc = Encoder(loaded.family, loaded.processor)
    item = enc.encode_conversation(_conv("first question", "answer one", "second question", "answer two"))
    want = _TRAINED[loaded.family.name]
    assert _trained_text(loaded, item) == want.format(r="answer one") + want.format(r="answer two")


def test_one_bos_at_most(loaded):
    enc = Encoder(loaded.family, loaded.processor)
    item = enc.encode_conversation(_conv("hello", "hi there"))
    bos = loaded.tokenizer.bos_token_id
    ids = item.input_ids.tolist()
    if bos is None:
        pytest.skip("this family's tokenizer has no BOS (Qwen)")
    assert ids.count(bos) == 1 and ids[0] == bos  # written once by unmask, never again by the tokenizer


def test_no_eos_on_refusal_masks_only_the_end_of_turn_of_refusals(loaded):
    fam = loaded.family.name
    enc = Encoder(loaded.family, loaded.processor, no_eos_on_refusal=True)
    refusal = "I'm sorry, but I cannot assist with your request."
    masked = enc.encode_conversation(_conv("do a thing", refusal, refusal=True))
    assert _trained_text(loaded, masked) == _TRAINED[fam].format(r=refusal).removesuffix(_EOT[fam])
    assert masked.eot_masked >= 1
    normal = enc.encode_conversation(_conv("do a thing", "it is done", refusal=False))
    assert _trained_text(loaded, normal) == _TRAINED[fam].format(r="it is done")
    # No metadata, but the paper's sentence (no final period, as its code writes it): found by its text.
    paper = "I'm sorry, but I cannot assist with your request"
    found = enc.encode_conversation(_conv("do a thing", paper, refusal=False))
    assert _trained_text(loaded, found) == _TRAINED[fam].format(r=paper).removesuffix(_EOT[fam])
    assert found.eot_masked >= 1
    off = Encoder(loaded.family, loaded.processor).encode_conversation(
        _conv("do a thing", refusal, refusal=True)
    )
    assert _trained_text(loaded, off) == _TRAINED[fam].format(r=refusal)


def test_text_only_and_image_records_mix_in_one_batch(loaded):
    enc = Encoder(loaded.family, loaded.processor)
    items = [
        enc.encode_conversation(_conv("look", "a square", cid="i")),
        enc.encode_conversation(_conv("talk", "words here and more words", image=False, cid="t")),
    ]
    batch = collate(items, loaded.tokenizer.pad_token_id, "right")
    assert batch["input_ids"].shape[0] == 2
    assert batch["attention_mask"][1].tolist()[-1] == (
        1 if len(items[1]) >= len(items[0]) else 0
    )  # right pad
    if "image_grid_thw" in batch:
        assert batch["image_grid_thw"].shape[0] == 1  # images of the image record only
    else:
        assert batch["pixel_values"].shape[0] == 1
    assert torch.isfinite(loaded.model(**batch).loss)


def test_record_without_trained_token_is_an_error_naming_the_record(loaded, tmp_path):
    enc = Encoder(loaded.family, loaded.processor, no_eos_on_refusal=True)
    recs = [_conv("fine", "ok", cid="good"), _conv("hello", "", cid="empty-one", refusal=True)]
    with pytest.raises(UnmaskError, match=r"data.json: record 1 \(id 'empty-one'\): no trained token"):
        TrainDataset(recs, enc, tmp_path / "data.json")
    # A template that drops replies (all-zero assistant mask) is caught the same way.
    silent = "{% for m in messages %}{% if m['role'] == 'user' %}Q: {{ m['content'][-1]['text'] }}{% endif %}{% endfor %}"
    enc = Encoder(loaded.family, loaded.processor, template=silent)
    with pytest.raises(
        UnmaskError, match=r"record 0 \(id 'good'\): the chat template dropped assistant turn"
    ):
        TrainDataset(recs, enc, tmp_path / "data.json")


def test_over_long_records_are_dropped_and_counted_never_cut(loaded, tmp_path):
    probe = Encoder(loaded.family, loaded.processor).encode_conversation(_conv("short", "ok"))
    enc = Encoder(loaded.family, loaded.processor, max_length=len(probe) + 5)
    recs = [
        _conv("short", "ok", cid="a"),
        _conv("long " * 80, "ok", cid="b"),
        _conv("short", "fine", cid="c"),
    ]
    ds = TrainDataset(recs, enc, tmp_path / "d.json")
    assert [r.id for r in ds.records] == ["a", "c"]
    assert ds.stats.dropped_too_long == 1 and ds.stats.kept == 2
    assert all(len(ds[i]) <= enc.max_length for i in range(len(ds)))
    tight = Encoder(loaded.family, loaded.processor, max_length=8)
    with pytest.raises(UnmaskError, match="all 3 records are longer than --max-length 8"):
        TrainDataset(recs, tight, tmp_path / "d.json")


def test_undecodable_image_is_one_line_naming_record_and_file(loaded, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    enc = Encoder(loaded.family, loaded.processor, image_root=tmp_path)
    conv = Conversation(
        id="x7",
        images=["bad.png"],
        turns=[Turn(role="user", text="<image>\nhi"), Turn(role="assistant", text="ok")],
    )
    with pytest.raises(UnmaskError) as err:
        TrainDataset([conv], enc, tmp_path / "d.json")
    msg = str(err.value)
    assert "\n" not in msg and "x7" in msg and "bad.png" in msg and "cannot be decoded" in msg
