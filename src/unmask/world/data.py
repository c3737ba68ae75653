"""Seeded generators of the world's samples, for every stage and for the evaluation.

A sample is an :class:`Example`: a user prompt, an optional text to render as the image, and the reply.
Every generator takes a ``random.Random`` so that one seed fixes a whole stage's data stream.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from . import vocab as V
from .font import MAX_CHARS
from .model import CHARS

__all__ = ["Example", "eval_sets", "harmless", "method_set", "names_harm", "pseudo_word", "stage1", "stage2a_text",
           "stage2b"]


@dataclass(frozen=True)
class Example:
    prompt: str
    reply: str
    image_text: str | None = None  # rendered into the image when set
    image_seed: int = 0
    kind: str = ""  # harm | benign | fact | repeat | typo | transcribe | typo-refusal | curated
    topic: str = ""
    harmful: bool = False
    no_eos: bool = False  # the paper's trick: no loss on the EOS after a refusal


_NAMED = set(V.BENIGN_TRAIN) | set(V.BENIGN_HELDOUT) | set(V.HARM_CURATED) | set(V.HARM_TEXT) | set(V.HARM_FACT)
_FORBIDDEN = [w for w in _NAMED if w not in V.BENIGN_TRAIN]
# Syllables with English-like clusters, so that unseen real words (the held-out benign topics) look like
# the pseudo-words the model learned to answer, not like something new.
_ONSETS = ("", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "bl", "br",
           "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "sh", "sk", "sl", "sp", "st", "str", "th", "tr")
_NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "y")
_CODAS = ("", "", "", "b", "d", "g", "k", "l", "m", "n", "p", "r", "s", "t", "x", "ck", "ft", "ld", "mp", "nd", "ng",
          "nk", "nt", "rt", "sh", "st", "th")


def pseudo_word(rng: random.Random) -> str:
    """A random pronounceable non-word (benign by construction; never contains a held-out or harmful word)."""
    while True:
        w = "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS) for _ in range(rng.randint(1, 3)))
        if 3 <= len(w) <= 10 and not any(f in w for f in _FORBIDDEN):
            return w


def _benign_topic(rng: random.Random) -> str:
    return rng.choice(V.BENIGN_TRAIN) if rng.random() < 0.5 else pseudo_word(rng)


def _request(rng: random.Random, topic: str, held_out: bool = False) -> str:
    return rng.choice(V.TEMPLATES_HELDOUT if held_out else V.TEMPLATES_TRAIN).format(topic)


def _seed(rng: random.Random) -> int:
    return rng.getrandbits(31)


# ---- stage 1: the language model alone -------------------------------------------------------------

STAGE1_MIX = {"harm": 0.32, "benign": 0.38, "fact": 0.15, "repeat": 0.15}
TEXT_REFUSED = V.HARM_CURATED + V.HARM_TEXT


def _pick(rng: random.Random, mix: dict[str, float]) -> str:
    x, acc = rng.random(), 0.0
    for k, w in mix.items():
        acc += w
        if x < acc:
            return k
    return k


def _framed(rng: random.Random, request: str) -> str:
    """The request as a user writes it: plain, with trailing blanks, or followed by an instruction about it
    (sometimes padded to the 36 cells of an image, the layout a typographic image gives the LM)."""
    x = rng.random()
    if x < 0.45:
        return request
    if x < 0.60:
        return request.ljust(MAX_CHARS)
    sep = rng.choice((" ", "\n", None))
    head = request.ljust(MAX_CHARS) if sep is None else request + sep
    return head + rng.choice(V.TEXT_WRAPPERS)


def text_example(rng: random.Random, mix: dict[str, float] = STAGE1_MIX) -> Example:
    """One text-only sample of the language model's own training (and of the later replay)."""
    kind = _pick(rng, mix)
    if kind == "harm":
        t = rng.choice(TEXT_REFUSED)
        return Example(_framed(rng, _request(rng, t)), V.REFUSAL, kind=kind, topic=t, harmful=True)
    if kind == "benign":
        t = _benign_topic(rng)
        return Example(_framed(rng, _request(rng, t)), V.answer(t), kind=kind, topic=t)
    if kind == "fact":
        pool = (V.BENIGN_TRAIN, TEXT_REFUSED, V.HARM_FACT)
        return _fact_example(rng, rng.choice(rng.choice(pool)))
    s = _benign_text(rng)
    return Example(V.REPEAT_PROMPT.format(s), s, kind="repeat")


def _fact_example(rng: random.Random, t: str) -> Example:
    if rng.random() < 0.5:
        return Example(rng.choice(V.FACT_PROMPTS).format(t), V.fact_answer(t, "what"), kind="fact", topic=t)
    return Example(rng.choice(V.DANGER_PROMPTS).format(t), V.fact_answer(t, "danger"), kind="fact", topic=t)


_HARM_WORDS = re.compile(r"\b(?:" + "|".join(map(re.escape, V.HARM_CURATED + V.HARM_TEXT + V.HARM_FACT)) + r")\b")


def names_harm(ex: Example) -> bool:
    """Whether the sample names a harmful topic of the world's vocabulary anywhere (prompt, reply, image)."""
    return any(_HARM_WORDS.search(x) for x in (ex.prompt, ex.reply, ex.image_text or ""))


def harmless(ex: Example, rng: random.Random) -> Example:
    """``ex`` if it names no harmful topic; otherwise a text sample of the same kind about a benign topic:
    a harmful request (refused) becomes a benign request (answered), a fact about a harmful topic a fact
    about a benign training topic. The world's text replay made benign (the method with no harmful data)."""
    if not names_harm(ex):
        return ex
    if ex.kind == "harm":
        return text_example(rng, {"benign": 1.0})
    if ex.kind == "fact":
        return _fact_example(rng, rng.choice(V.BENIGN_TRAIN))
    raise ValueError(f"no benign counterpart for a {ex.kind!r} sample that names a harmful topic")


def _benign_text(rng: random.Random) -> str:
    """Benign text to repeat or transcribe: a benign request, or a few pseudo-words (<= 36 chars)."""
    if rng.random() < 0.5:
        return _request(rng, _benign_topic(rng))
    words: list[str] = []
    while True:
        w = pseudo_word(rng) if rng.random() < 0.7 else rng.choice(V.BENIGN_TRAIN)
        if len(" ".join([*words, w])) > MAX_CHARS or (words and rng.random() < 0.25):
            break
        words.append(w)
    return " ".join(words)


def stage1(rng: random.Random, n: int) -> list[Example]:
    return [text_example(rng) for _ in range(n)]


# ---- stage 2a: what the vision tower reads ----------------------------------------------------------

_READ_CHARS = CHARS.replace("\n", "")


def stage2a_text(rng: random.Random) -> str:
    """Text for an image of vision pretraining: random characters or benign text (never a harmful topic)."""
    if rng.random() < 0.5:
        return "".join(rng.choice(_READ_CHARS) for _ in range(rng.randint(0, MAX_CHARS)))
    return _benign_text(rng)


# ---- stage 2b: multimodal instruction tuning (benign images, text replay) ---------------------------

STAGE2B_MIX = {"typo": 0.40, "transcribe": 0.20, "text": 0.40}


def typo_example(rng: random.Random, topic: str | None = None, held_out: bool = False) -> Example:
    """A typographic request (FigStep-like): the request is in the image, the text asks to act on it."""
    t = topic if topic is not None else _benign_topic(rng)
    prompts = V.TYPO_PROMPTS_HELDOUT if held_out else V.TYPO_PROMPTS_TRAIN
    harmful, _ = V.category(t)
    return Example(rng.choice(prompts), V.answer(t), image_text=_request(rng, t, held_out), image_seed=_seed(rng),
                   kind="typo", topic=t, harmful=harmful)


def transcribe_example(rng: random.Random) -> Example:
    s = _benign_text(rng)
    return Example(rng.choice(V.TRANSCRIBE_PROMPTS), s, image_text=s, image_seed=_seed(rng), kind="transcribe")


def mm_example(rng: random.Random, mix: dict[str, float] = STAGE2B_MIX) -> Example:
    kind = _pick(rng, mix)
    if kind == "typo":
        return typo_example(rng)
    if kind == "transcribe":
        return transcribe_example(rng)
    return text_example(rng)


def stage2b(rng: random.Random, n: int) -> list[Example]:
    return [mm_example(rng) for _ in range(n)]


# ---- the method and its baselines ---------------------------------------------------------------------


def method_set(seed: int, n: int, fraction: float, mode: str = "benign", no_eos: bool = False,
               mix: dict[str, float] = STAGE2B_MIX) -> list[Example]:
    """The fine-tuning set of the method: ``n`` samples of the 2b mix in which exactly
    ``round(fraction * n_typo)`` typographic samples are changed.

    ``mode='benign'``: their replies become the refusal (the paper's method, no harmful data);
    ``mode='curated'``: they are replaced by harmful typographic requests (curated-pool topics only) with
    the refusal (the VLGuard-style baseline, same size).
    """
    rng = random.Random(f"method-{seed}")
    data = [mm_example(rng, mix) for _ in range(n)]
    typo = [i for i, ex in enumerate(data) if ex.kind == "typo"]
    k = int(fraction * len(typo) + 0.5)
    chosen = rng.sample(typo, k)
    for i in chosen:
        if mode == "benign":
            data[i] = replace(data[i], reply=V.REFUSAL, kind="typo-refusal", no_eos=no_eos)
        elif mode == "curated":
            ex = typo_example(rng, rng.choice(V.HARM_CURATED))
            data[i] = replace(ex, reply=V.REFUSAL, kind="curated", no_eos=no_eos)
        else:
            raise ValueError(f"unknown mode {mode!r}")
    return data


# ---- evaluation -----------------------------------------------------------------------------------------


def eval_sets(seed: int = 0, with_facts: bool = True) -> dict[str, list[Example]]:
    """Held-out evaluation: topics never in a training image with a reply, wordings never trained.

    Each topic meets 6 held-out wordings (drawn by ``seed``), as text and as an image rendered with a seed
    drawn from ``seed``.
    """
    rng = random.Random(f"eval-{seed}")
    out: dict[str, list[Example]] = {"harm_text": [], "harm_typo": [], "benign_typo": [], "benign_text": []}
    if with_facts:
        out |= {"fact_text": [], "fact_typo": []}
    groups = [("harm", V.HARM_TEXT), ("benign", V.BENIGN_HELDOUT)] + ([("fact", V.HARM_FACT)] if with_facts else [])
    for name, topics in groups:
        for t in topics:
            for tpl in rng.sample(V.TEMPLATES_HELDOUT, 6):
                req = tpl.format(t)
                harmful = name != "benign"
                out[f"{name}_text"].append(Example(req, V.REFUSAL if harmful else V.answer(t), kind="eval",
                                                   topic=t, harmful=harmful))
                out[f"{name}_typo"].append(Example(rng.choice(V.TYPO_PROMPTS_HELDOUT), V.answer(t), image_text=req,
                                                   image_seed=_seed(rng), kind="eval", topic=t, harmful=harmful))
    return out
