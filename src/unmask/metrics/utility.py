"""Utility metrics: VQA accuracy (VizWiz / VQA style) and multiple-choice accuracy (ScienceQA style).

- :func:`vqa_accuracy`: ``min(#annotators who gave the answer / 3, 1)`` after the standard VQA answer
  normalisation (lower case, punctuation, number words -> digits, articles dropped, contractions
  restored). This is the simple form used by VizWiz-style evaluations, not the 10-choose-9 average.
- :func:`extract_choice`: reads the chosen option letter from a free-text answer ("The answer is B.",
  "(B)", "B. ...", "B", or the text of exactly one option); None when no option can be read, which
  counts as wrong (and is counted as ``n_unparsed``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import UnmaskError, short
from .stats import bootstrap_ci, wilson

__all__ = ["extract_choice", "mc_accuracy", "normalize_answer", "utility_metrics", "vqa_accuracy"]

_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hes": "he's", "howd": "how'd", "hows": "how's", "im": "i'm",
    "isnt": "isn't", "itd": "it'd", "itll": "it'll", "ive": "i've", "lets": "let's", "shouldnt": "shouldn't",
    "thats": "that's", "theres": "there's", "theyre": "they're", "theyve": "they've", "wasnt": "wasn't",
    "werent": "weren't", "whats": "what's", "wheres": "where's", "whos": "who's", "wont": "won't",
    "wouldnt": "wouldn't", "youre": "you're", "youve": "you've", "yall": "y'all",
}
_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
            "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
          "?", "!"]
_PERIOD_STRIP = re.compile(r"(?<!\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def normalize_answer(text: str) -> str:
    """The VQA evaluation's answer normalisation."""
    s = " ".join(text.replace("\n", " ").replace("\t", " ").split()).lower()
    for p in _PUNCT:
        # As in the VQA code: punctuation next to a space (or inside a number) vanishes, else it splits.
        if (p + " " in s or " " + p in s) or _COMMA_STRIP.search(s):
            s = s.replace(p, "")
        else:
            s = s.replace(p, " ")
    s = _PERIOD_STRIP.sub("", s)
    words = []
    for w in s.split():
        w = _NUMBERS.get(w, w)
        if w in _ARTICLES:
            continue
        words.append(_CONTRACTIONS.get(w, w))
    return " ".join(words)


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """``min(#answers equal to the prediction / 3, 1)``, both sides normalised."""
    pred = normalize_answer(prediction)
    matches = sum(normalize_answer(a) == pred for a in answers)
    return min(matches / 3.0, 1.0)


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def extract_choice(response: str, options: Sequence[str] | None = None, n_options: int | None = None) -> str | None:
    """The option letter a free-text answer picks, or None. ``options`` (texts) enable text matching."""
    n = len(options) if options else (n_options or 26)
    valid = _LETTERS[:n]
    text = response.strip()
    pats = [
        rf"(?i:answer is):?\s*\(?([{valid}])\b",        # "The answer is B." / "answer is (B)"
        rf"^\(?([{valid}])\)?(?:[.:)\]]|\s*$)",         # "B." / "(B)" / "B" at the start
        rf"\(([{valid}])\)",                            # "(B)" anywhere
        rf"(?i:\b(?:option|choice)\s+\(?([{valid}])\b)",  # "option B" / "option b"
    ]
    for pat in pats:
        m = re.search(pat, text)
        if m:
            return m.group(1).upper()
    if options:
        low = normalize_answer(text)
        hits = [_LETTERS[i] for i, o in enumerate(options) if normalize_answer(str(o)) and
                re.search(rf"(?<!\w){re.escape(normalize_answer(str(o)))}(?!\w)", low)]
        if len(hits) == 1:
            return hits[0]
    return None


def mc_accuracy(response: str, answer: str | int, options: Sequence[str] | None = None) -> float:
    """1.0 when the extracted letter is ``answer`` (a letter, or a 0-based option index), else 0.0."""
    gold = _gold_letter(answer, options)
    if gold is None:
        raise UnmaskError(f"answer {short(answer)} is not an option letter or a 0-based option index")
    return 1.0 if extract_choice(response, options) == gold else 0.0


def _gold_letter(answer: Any, options: Sequence[str] | None) -> str | None:
    """The gold option letter of an ``answer`` (a letter, or a 0-based option index), or None if it is no option."""
    n = len(options) if options else len(_LETTERS)
    if isinstance(answer, int) and not isinstance(answer, bool):
        return _LETTERS[answer] if 0 <= answer < n else None
    if isinstance(answer, str) and len(answer.strip()) == 1 and answer.strip().upper() in _LETTERS[:n]:
        return answer.strip().upper()
    return None


def utility_metrics(rows: Sequence[dict[str, Any]], kind: str, *, bootstrap: int = 1000, seed: int = 0,
                    source: str = "rows", where: Sequence[str] | None = None) -> dict[str, Any]:
    """Mean accuracy with intervals over ``rows`` of generations with gold answers.

    ``kind="vqa"``: rows carry ``response`` and ``answers`` (list of annotator answers).
    ``kind="mc"``: rows carry ``response``, ``answer`` (a letter or a 0-based index of one of the
    ``options``, when given) and optionally ``options`` (a list of texts). ``where[i]`` names row i in
    errors (``file: line N``); by default ``source: record i``.
    """
    if kind not in ("vqa", "mc"):
        raise UnmaskError(f"unknown utility kind {kind!r}; expected 'vqa' or 'mc'")
    if not rows:
        raise UnmaskError(f"{source}: no rows to score")
    scores, unparsed = [], 0
    for i, r in enumerate(rows, 1):
        loc = where[i - 1] if where is not None else f"{source}: record {i}"
        if not isinstance(r, dict):
            raise UnmaskError(f"{loc}: expected a JSON object")
        loc = f"{loc} (id {short(r.get('id'))})"
        if not isinstance(r.get("response"), str):
            raise UnmaskError(f"{loc}: missing text field 'response'")
        if kind == "vqa":
            answers = r.get("answers")
            if not isinstance(answers, list) or not answers:
                raise UnmaskError(f"{loc}: missing list field 'answers'")
            scores.append(vqa_accuracy(r["response"], [str(a.get("answer", "")) if isinstance(a, dict) else str(a)
                                                       for a in answers]))
        else:
            if "answer" not in r:
                raise UnmaskError(f"{loc}: missing field 'answer'")
            options = r.get("options") or r.get("choices")
            if options is not None and not (isinstance(options, list) and all(isinstance(o, str) for o in options)
                                            and len(options) <= len(_LETTERS)):
                raise UnmaskError(f"{loc}: 'options' must be a list of at most {len(_LETTERS)} texts")
            gold = _gold_letter(r["answer"], options)
            if gold is None:
                n = len(options) if options else len(_LETTERS)
                raise UnmaskError(f"{loc}: 'answer' {short(r['answer'])} is not an option: a letter A-{_LETTERS[n - 1]}"
                                  f" or an index 0-{n - 1}")
            if extract_choice(r["response"], options) is None:
                unparsed += 1
            scores.append(mc_accuracy(r["response"], gold, options))
    out: dict[str, Any] = {"kind": kind, "accuracy": sum(scores) / len(scores), "n": len(scores),
                           "ci": bootstrap_ci(scores, bootstrap, seed, tag=f"utility:{kind}")}
    if kind == "mc":
        out["n_unparsed"] = unparsed
        out["wilson"] = wilson(int(sum(scores)), len(scores))
    return out
