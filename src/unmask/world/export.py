"""The tiny world's data as ordinary files, so the normal pipeline (mix, train, attack, generate,
judge) runs on it exactly as on real data.

``export_world_data(out, seed)`` writes:

- ``train.json``: benign multimodal instruction data in LLaVA format, drawn from the stage-2b
  distribution (benign typographic requests answered, transcriptions, and text replay that keeps the
  language model's refusals of harmful *text*; no image is ever paired with a refusal), with the
  images as PNG files in ``images/``. With ``benign_replay=1`` the text replay holds no harmful request
  and names no harmful topic (:func:`unmask.world.data.harmless`); every other record, id and image is
  the same;
- ``curated.json``: a VLGuard-format set of harmful typographic requests (curated-pool topics only)
  with the refusal, for the curated baseline;
- ``harmful.jsonl`` / ``benign.jsonl``: held-out question sets (topics never seen in a training image,
  wordings never trained) for ``unmask attack text|world-typo`` (generic JSONL loader).
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from ..data.store import atomic_path
from . import vocab as V
from .data import Example, eval_sets, harmless, mm_example, typo_example
from .font import render

__all__ = ["export_world_data", "question_sets"]

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


def question_sets(seed: int = 0) -> dict[str, list[dict]]:
    """The held-out question sets ``harmful`` / ``benign`` as exported (``<name>.jsonl``): one row per
    request, with its id, text prompt, topic and the typographic prompt and render seed of its image."""
    sets = eval_sets(seed, with_facts=False)
    out: dict[str, list[dict]] = {}
    for name, text_key, typo_key in (("harmful", "harm_text", "harm_typo"), ("benign", "benign_text", "benign_typo")):
        rows = []
        for j, (tx, ty) in enumerate(zip(sets[text_key], sets[typo_key], strict=True)):
            assert tx.prompt == ty.image_text, "the text and typo sets pair the same requests"
            _, cat = V.category(tx.topic)
            rows.append({"id": f"{name}-{j:03d}", "prompt": tx.prompt, "harmful": tx.harmful, "category": cat,
                         "topic": tx.topic, "typo_prompt": ty.prompt, "image_seed": ty.image_seed})
        out[name] = rows
    return out


def export_world_data(out: str | Path, seed: int = 0, n_train: int = TRAIN_RECORDS,
                      n_curated: int = CURATED_RECORDS, benign_replay: int = 0) -> dict[str, Path]:
    """Write the world's data sets into ``out`` (atomically); returns name -> path.

    ``benign_replay``: 0 keeps the text replay's harmful requests (refused) and facts about harmful topics
    (the shipped world); 1 replaces each with a benign counterpart (the method with no harmful data)."""
    if benign_replay not in (0, 1):
        raise ValueError(f"benign_replay must be 0 or 1, not {benign_replay!r}")
    out = Path(out)
    with atomic_path(out) as tmp:
        images = tmp / "images"
        images.mkdir(parents=True)
        rng = random.Random(f"export-train-{seed}")
        drawn = [mm_example(rng) for _ in range(n_train)]
        if benign_replay:  # its own stream: every record that names no harmful topic stays as it was
            rng_replay = random.Random(f"export-replay-{seed}")
            drawn = [harmless(ex, rng_replay) for ex in drawn]
        train = [_record(ex, f"w{seed}-{i:05d}", images, "images") for i, ex in enumerate(drawn)]
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

        for name, rows in question_sets(seed).items():
            lines = [orjson.dumps(row) for row in rows]
            (tmp / f"{name}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return {"train": out / "train.json", "curated": out / "curated.json", "harmful": out / "harmful.jsonl",
            "benign": out / "benign.jsonl"}
