"""Write a synthetic LLaVA-665k-shaped JSON (real shape, synthetic text) for the mix benchmark.

~90% image records (one ``<image>`` in the first human turn), some multi-turn, a few text-only.
Usage: python benchmarks/make_llava.py OUT.json [--records 665000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random

WORDS = ("the a of to and in is on with for what color man woman table sign image picture "
         "shows left right people car street red blue green white standing sitting two three "
         "describe detail object background near holding wearing building sky tree dog cat").split()


def _sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).capitalize()


def record(rng: random.Random, i: int) -> dict:
    has_image = rng.random() < 0.9
    n_turns = rng.choice([1, 1, 1, 2, 3, 5]) if has_image else rng.choice([1, 2])
    conv = []
    for t in range(n_turns):
        q = _sentence(rng, 5, 14) + "?"
        if t == 0 and has_image:
            q = "<image>\n" + q if rng.random() < 0.7 else q + "\n<image>"
        conv.append({"from": "human", "value": q})
        conv.append({"from": "gpt", "value": _sentence(rng, 20, 140) + "."})
    rec = {"id": f"{i:09d}", "conversations": conv}
    if has_image:
        rec = {"id": rec["id"], "image": f"coco/train2017/{i:012d}.jpg", "conversations": conv}
    return rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--records", type=int, default=665_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w") as fh:
        json.dump([record(rng, i) for i in range(args.records)], fh)


if __name__ == "__main__":
    main()
