"""The tiny world's data as ordinary files, so the normal pipeline (mix, train, attack, generate,
judge) runs on it exactly as on real data.

``export_world_data(out, seed)`` writes:

- ``train.json``: benign multimodal instruction data in LLaVA format, drawn from the stage-2b
  distribution (benign typographic requests answered, transcriptions, and text replay that keeps the
  language model's refusals of harmful *text*; no image is ever paired with a refusal), with the
  images as PNG files in ``images/``;
- ``curated.json``: a VLGuard-format set of harmful typographic requests (curated-pool topics only)
  with the refusal, for the curated baseline;
- ``harmful.jsonl`` / ``benign.jsonl``: held-out question sets (topics never seen in a training image,
  wordings never trained) for ``unmask attack text|world-typo`` (generic JSONL loader).
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from ..store import atomic_path
from . import vocab as V
from .data import Example, eval_sets, mm_example, typo_example
from .font import render

__all__ = ["export_world_data"]

TRAIN_RECORDS = 4800  # 150 steps x 32, the size of the method's fine-tune in the world's recipe
CURATED_RECORDS = 1200


def _record(ex: Example, rid: str, images: Path, rel: str) -> dict:
    rec: dict = {"id": rid}
    prompt = ex.prompt
    if ex.image_text is not None:
        render(ex.image_text, ex.image_seed).save(images / f"{rid}.png", compress_level=1)
        rec["image"] = f"{rel}/{rid}.png"
        prompt = "<image>" + prompt  # the world's template puts the image first, no separator
    rec["conversations"] = [{"from": "human", "value": prompt}, {"from": "gpt", "value": ex.reply}]
    rec["metadata"] = {"world_kind": ex.kind, "topic": ex.topic}
    return rec


def export_world_data(out: str | Path, seed: int = 0, n_train: int = TRAIN_RECORDS,
                      n_curated: int = CURATED_RECORDS) -> dict[str, Path]:
    """Write the world's data sets into ``out`` (atomically); returns name -> path."""
    out = Path(out)
    with atomic_path(out) as tmp:
        images = tmp / "images"
        images.mkdir(parents=True)
        rng = random.Random(f"export-train-{seed}")
        train = [_record(mm_example(rng), f"w{seed}-{i:05d}", images, "images") for i in range(n_train)]
        (tmp / "train.json").write_bytes(orjson.dumps(train, option=orjson.OPT_INDENT_2))

        rng = random.Random(f"export-curated-{seed}")
        curated = []
        for i in range(n_curated):
            ex = typo_example(rng, rng.choice(V.HARM_CURATED))
            rid = f"c{seed}-{i:05d}"
            render(ex.image_text, ex.image_seed).save(images / f"{rid}.png", compress_level=1)
            _, cat = V.category(ex.topic)
            curated.append({"id": rid, "image": f"images/{rid}.png", "safe": False, "harmful_category": cat,
                            "harmful_subcategory": ex.topic,
                            "instr-resp": [{"instruction": ex.prompt, "response": V.REFUSAL}]})
        (tmp / "curated.json").write_bytes(orjson.dumps(curated, option=orjson.OPT_INDENT_2))

        sets = eval_sets(seed, with_facts=False)
        for name, text_key, typo_key in (("harmful", "harm_text", "harm_typo"), ("benign", "benign_text", "benign_typo")):
            lines = []
            for j, (tx, ty) in enumerate(zip(sets[text_key], sets[typo_key], strict=True)):
                assert tx.prompt == ty.image_text, "the text and typo sets pair the same requests"
                _, cat = V.category(tx.topic)
                lines.append(orjson.dumps({"id": f"{name}-{j:03d}", "prompt": tx.prompt, "harmful": tx.harmful,
                                           "category": cat, "topic": tx.topic, "typo_prompt": ty.prompt,
                                           "image_seed": ty.image_seed}))
            (tmp / f"{name}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return {"train": out / "train.json", "curated": out / "curated.json", "harmful": out / "harmful.jsonl",
            "benign": out / "benign.jsonl"}
