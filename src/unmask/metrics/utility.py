"""Utility metrics: VQA accuracy (VizWiz / VQA style) and multiple-choice accuracy (ScienceQA style).

- :func:`vqa_accuracy`: ``min(#annotators who gave the answer / 3, 1)`` after the standard VQA answer
  normalisation (lower case, punctuation, number words -> digits, articles dropped, contractions
  restored). This is the simple form used by VizWiz-style evaluations, not the 10-choose-9 average.
- :func:`llava_sqa_choice` / ``kind="sqa"``: ScienceQA-IMG exactly as LLaVA's ``eval_science_qa.py``
  reads an answer (the paper's utility number: IMG accuracy on ``llava_test_CQM-A.json``).
- :func:`extract_choice`: reads the chosen option letter from a free-text answer ("The answer is B.",
  "(B)", "B. ...", "B", or the text of exactly one option); None when no option can be read, which
  counts as wrong (and is counted as ``n_unparsed``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UnmaskError, short
from .stats import bootstrap_ci, wilson

__all__ = ["SQA_OPTIONS", "attach_scienceqa_gold", "extract_choice", "llava_sqa_choice", "mc_accuracy", "normalize_answer",
           "scienceqa_accuracy", "utility_metrics", "vqa_accuracy"]

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
# The VQA evaluation's own pattern, kept as written there: "(?!<=\d)" is a look-ahead (not a look-behind),
# so a period goes unless a digit follows ("3." -> "3", "1.5" stays); its sub() gets re.UNICODE (32) as
# the count, so at most 32 periods go.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def normalize_answer(text: str) -> str:
    """The VQA evaluation's answer normalisation (processPunctuation, then processDigitArticle)."""
    s = " ".join(text.replace("\n", " ").replace("\t", " ").split()).lower()
    original = s
    for p in _PUNCT:
        # As in the VQA code: the test looks at the text as it came in, the replacement at the text so far.
        # Punctuation next to a space (or any digit,digit in the answer) vanishes, else it splits words.
        if (p + " " in original or " " + p in original) or _COMMA_STRIP.search(original):
            s = s.replace(p, "")
        else:
            s = s.replace(p, " ")
    s = _PERIOD_STRIP.sub("", s, re.UNICODE)
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


SQA_OPTIONS = ("A", "B", "C", "D", "E")  # eval_science_qa.py --options
_SQA_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")  # "." is any character there, as in LLaVA


def llava_sqa_choice(pred_text: str, n_choices: int) -> int:
    """The option index LLaVA's ``llava/eval/eval_science_qa.py`` reads from an answer, or -1.

    As there: the whole text is one of A-E; or it starts with ``"X. "``; or ``The answer is X.`` occurs
    exactly once. The letter must be one of the first ``n_choices`` options; anything else is -1 (wrong).
    No stripping, no case folding: ``" B"`` and ``"b"`` are wrong, as in LLaVA."""
    if pred_text in SQA_OPTIONS:
        answer = pred_text
    elif len(pred_text) >= 3 and pred_text[0] in SQA_OPTIONS and pred_text[1:3] == ". ":
        answer = pred_text[0]
    else:
        found = _SQA_ANSWER_IS.findall(pred_text)
        answer = found[0] if len(found) == 1 else "FAILED"
    return SQA_OPTIONS.index(answer) if answer in SQA_OPTIONS[:n_choices] else -1


def scienceqa_accuracy(rows: Sequence[dict[str, Any]], source: str = "rows") -> dict[str, Any]:
    """ScienceQA as LLaVA scores ``llava_test_CQM-A.json``: rows carry ``response``, ``answer`` (the
    gold option index, ScienceQA's ``problems.json``) and ``choices`` (list) or ``n_choices``; a row with
    ``image`` (a path or true) counts for IMG accuracy, the number the paper reports. Accuracies are
    fractions (LLaVA prints percentages)."""
    correct, img, img_correct, failed = 0, 0, 0, 0
    for i, r in enumerate(rows, 1):
        loc = f"{source}: record {i} (id {r.get('id')!r})"
        if not isinstance(r.get("response"), str):
            raise UnmaskError(f"{loc}: missing text field 'response'")
        choices = r.get("choices")
        n = len(choices) if isinstance(choices, list) else r.get("n_choices")
        gold = r.get("answer")
        if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= len(SQA_OPTIONS):
            raise UnmaskError(f"{loc}: needs 'choices' (2-5 options) or 'n_choices'")
        if not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < n:
            raise UnmaskError(f"{loc}: 'answer' must be the gold option index (0..{n - 1})")
        pred = llava_sqa_choice(r["response"], n)
        failed += pred == -1
        hit = pred == gold
        correct += hit
        if r.get("image"):
            img += 1
            img_correct += hit
    return {"kind": "sqa", "accuracy": correct / len(rows), "n": len(rows), "n_unparsed": failed,
            "img_accuracy": img_correct / img if img else None, "n_img": img}


def attach_scienceqa_gold(rows: Sequence[dict[str, Any]], problems_path: str | Path) -> list[dict[str, Any]]:
    """Rows with ScienceQA's gold (``answer`` index, ``choices``, ``image``) from its ``problems.json``,
    joined by id (LLaVA's question ids are the problem ids)."""
    from ..data.store import read_json

    path = Path(problems_path)
    problems = read_json(path, dict, "ScienceQA's problems.json (an object: id -> problem)")
    out = []
    for i, r in enumerate(rows, 1):
        prob = problems.get(str(r.get("id")))
        if not isinstance(prob, dict) or "answer" not in prob or "choices" not in prob:
            raise UnmaskError(f"{path}: no problem for record {i} (id {r.get('id')!r}) of the generations")
        out.append({**r, "answer": prob["answer"], "choices": prob["choices"], "image": prob.get("image")})
    return out


def utility_metrics(rows: Sequence[dict[str, Any]], kind: str, *, bootstrap: int = 1000, seed: int = 0,
                    source: str = "rows", where: Sequence[str] | None = None) -> dict[str, Any]:
    """Mean accuracy with intervals over ``rows`` of generations with gold answers.

    ``kind="vqa"``: rows carry ``response`` and ``answers`` (list of annotator answers).
    ``kind="mc"``: rows carry ``response``, ``answer`` (a letter or a 0-based index of one of the
    ``options``, when given) and optionally ``options`` (a list of texts). ``where[i]`` names row i in
    errors (``file: line N``); by default ``source: record i``.
    """
    if kind not in ("vqa", "mc", "sqa"):
        raise UnmaskError(f"unknown utility kind {kind!r}; expected 'vqa', 'mc' or 'sqa'")
    if not rows:
        raise UnmaskError(f"{source}: no rows to score")
    if kind == "sqa":
        out = scienceqa_accuracy(rows, source)
        out["wilson"] = wilson(round(out["accuracy"] * out["n"]), out["n"])
        if out["n_img"]:
            out["img_wilson"] = wilson(round(out["img_accuracy"] * out["n_img"]), out["n_img"])
        return out
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
