"""`unmask encode` against the reference training code, token for token (``../shared/golden``).

LLaVA-1.5's own ``preprocess_v1`` (and the paper's no-EOS variant of it) and LLaMA-Factory's ``qwen2_vl``
processor were run on 32 training conversations with the real tokenizers of ``../shared/realtok``; unmask
must feed the model the same ids and labels, which it does through the one path ``unmask train`` uses.
"""

from __future__ import annotations

import json

import pytest

from unmask.cli import main

CASES = [
    ("llava15.jsonl", "llava-1.5-7b-hf", "llava", False),
    ("llava15.noeos.jsonl", "llava-1.5-7b-hf", "llava", True),
    ("qwen25vl.jsonl", "qwen2.5-vl-7b-instruct", "qwen2_vl", False),
]


def _rows(path):
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def _encode(shared_dir, tmp_path, capsys, processor, family, no_eos, records=None, image_root=None):
    golden = shared_dir("golden")
    out = tmp_path / "enc.jsonl"
    argv = [
        "encode",
        str(records or golden / "records.json"),
        "--processor",
        str(shared_dir("realtok", processor)),
        "--image-root",
        str(image_root or golden / "images"),
        "-o",
        str(out),
    ]
    argv += ["--family", family] if family else []
    argv += ["--no-eos-on-refusal"] if no_eos else []
    try:
        main(argv)
    except SystemExit as exc:
        raise AssertionError(f"encode exited {exc.code}: {capsys.readouterr().err}") from None
    return out, capsys.readouterr()


@pytest.mark.parametrize("golden_file,processor,family,no_eos", CASES, ids=[c[0] for c in CASES])
def test_encode_matches_the_reference_training_code(shared, tmp_path, capsys, golden_file, processor, family, no_eos):
    want = _rows(shared("golden", golden_file))
    out, _ = _encode(shared, tmp_path, capsys, processor, family, no_eos)
    have = _rows(out)
    assert sorted(have) == sorted(want)
    wrong = [k for k in want if have[k]["input_ids"] != want[k]["input_ids"]]
    assert not wrong, f"input_ids differ for {wrong}"
    wrong = [k for k in want if have[k]["labels"] != want[k]["labels"]]
    assert not wrong, f"labels differ for {wrong}"
    assert len(want) == 32


def test_family_is_read_from_the_processor_folder(shared, tmp_path, capsys):
    want = _rows(shared("golden", "llava15.jsonl"))
    out, res = _encode(shared, tmp_path, capsys, "llava-1.5-7b-hf", None, False)
    assert _rows(out) == {k: {"id": k, "input_ids": v["input_ids"], "labels": v["labels"]} for k, v in want.items()}
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert manifest["params"]["encoding"] == "vicuna_v1" and manifest["counts"]["kept"] == 32


def test_llava_raw_view_is_llavas_tokenizer_image_token(shared):
    """The SentencePiece view reproduces LLaVA's own tokenization of every golden prompt (one -200 each)."""
    from transformers import AutoTokenizer

    from unmask.models.llava_v1 import SentencePieceView

    sp = SentencePieceView(AutoTokenizer.from_pretrained(str(shared("realtok", "llava-1.5-7b-hf"))))
    rows = _rows(shared("golden", "llava15.raw.jsonl")).values()
    for row in rows:
        if -200 in row["input_ids"]:
            assert sp.image_prompt(row["prompt"], -200) == row["input_ids"], row["id"]
        else:
            assert sp(row["prompt"]) == row["input_ids"], row["id"]


def test_sentencepiece_view_equals_sentencepiece_on_random_text(shared):
    """Where the ``sentencepiece`` package is installed: the view equals ``tokenizer.model`` itself."""
    spm = pytest.importorskip("sentencepiece")
    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    import random

    from transformers import AutoTokenizer

    from unmask.models.llava_v1 import SentencePieceView

    folder = shared("realtok", "llava-1.5-7b-hf")
    tok = AutoTokenizer.from_pretrained(str(folder))
    view = SentencePieceView(tok)
    proto = pb.ModelProto()
    proto.ParseFromString((folder / "tokenizer.model").read_bytes())
    proto.normalizer_spec.add_dummy_prefix = False  # what LlamaTokenizer(legacy=False) does
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto.SerializeToString())
    unk = len(sp.encode("<unk>"))

    def reference(text: str) -> list[int]:  # transformers 4.37 LlamaTokenizer(legacy=False).tokenize
        ids: list[int] = []
        rest = "▁" + text.replace("▁", " ") if text else ""
        while rest:
            cut = rest.find("</s>")
            piece, special = (rest, None) if cut < 0 else (rest[:cut], 2)
            rest = "" if cut < 0 else rest[cut + 4 :]
            if piece:
                start = piece.startswith(("▁", " "))
                ids += sp.encode("<unk>" + piece)[unk:] if start else sp.encode(piece)
            if special is not None:
                ids.append(special)
        if len(ids) > 1 and ids[0] == 29871 and ids[1] == 2:
            ids = ids[1:]
        return ids

    rng = random.Random(0)
    alphabet = list("ab XY\n\t .,!?'\"-_()<>/0123456789éü中😊\u00a0▁") + ["</s>", "USER", "ASSISTANT:", "  "]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
        assert view.tokenize(text) == reference(text), repr(text)


def test_qwen_replies_are_tokenized_on_their_own_as_llama_factory_does(shared):
    """LLaMA-Factory encodes each message apart: a reply that opens with a newline keeps its own "\\n"
    token (the whole text would merge it with the prompt's "assistant\\n")."""
    from unmask.data.records import Conversation, Turn
    from unmask.models.batching import Encoder
    from unmask.models.registry import get_family

    fam = get_family("qwen2_vl")
    proc = fam.load_processor(str(shared("realtok", "qwen2.5-vl-7b-instruct")), trust_remote_code=False)
    tok = proc.tokenizer
    conv = Conversation(id="nl", turns=[Turn(role="user", text="Hi"), Turn(role="assistant", text="\nHello")])
    item = Encoder(fam, proc).encode_conversation(conv)
    prompt = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    reply = "\nHello<|im_end|>\n"
    want = tok(prompt, add_special_tokens=False)["input_ids"] + tok(reply, add_special_tokens=False)["input_ids"]
    assert item.input_ids.tolist() == want
    assert want != tok(prompt + reply, add_special_tokens=False)["input_ids"]  # the case does differ
    n = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert item.labels.tolist() == [-100] * n + want[n:]
