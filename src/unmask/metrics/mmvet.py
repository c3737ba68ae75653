"""MM-Vet-style LLM-graded utility: the official grader prompt of MM-Vet (``mm-vet_evaluator.py``,
github.com/yuweihao/MM-Vet), sent to any OpenAI-compatible chat endpoint.

As there: the few-shot table prompt + ``"\\n" + " | ".join([question, answer with " <AND> " / " <OR> "
spaced, prediction, ""])``, ``max_tokens=3``; the score is the first space-separated word of the reply,
a number in [0, 1]. An unreadable reply is asked once more with ``"\\nPredict the correctness of the
answer (digit): "`` appended (the official script retries up to five times at rising temperature and
then scores 0.0; this client sends temperature 0 only, so a second identical request would change
nothing). A sample still unreadable, or whose call failed, is *ungraded*: counted beside the score,
never as 0 (``score_ungraded_as_zero`` gives the official convention too). Scores are reported as
fractions of 1 overall and per capability (MM-Vet prints them x 100).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..data.store import read_json
from ..errors import UnmaskError

__all__ = ["MMVET_PROMPT", "grade_mmvet", "load_mmvet", "mmvet_question", "parse_mmvet_score"]

MMVET_PROMPT = """Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0
"""  # noqa: E501
_RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "


def mmvet_question(question: str, answer: str, prediction: str) -> str:
    """The grader's user message for one sample, byte for byte as MM-Vet builds it."""
    gt = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return MMVET_PROMPT + "\n" + " | ".join([question, gt, prediction, ""])


def parse_mmvet_score(content: str) -> float | None:
    """``content.split(" ")[0].strip()`` as a number in [0, 1]; None otherwise."""
    try:
        score = float(content.split(" ")[0].strip())
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 else None


def load_mmvet(path: str | Path) -> dict[str, dict[str, Any]]:
    """MM-Vet's ``mm-vet.json``: id -> {imagename, capability (list), question, answer}."""
    path = Path(path)
    data = read_json(path, dict, "MM-Vet's mm-vet.json (an object: id -> sample)")
    for k, v in data.items():
        if not isinstance(v, dict) or not all(isinstance(v.get(f), str) for f in ("question", "answer")) \
                or not isinstance(v.get("capability"), list):
            raise UnmaskError(f"{path}: sample {k!r}: needs text 'question', 'answer' and a 'capability' list")
    return data


def _grade_one(client: Any, question: str, answer: str, prediction: str) -> tuple[float | None, str]:
    from ..judges.http import CallFailed

    text = mmvet_question(question, answer, prediction)
    try:
        content = client.complete([{"role": "user", "content": text}])
        score = parse_mmvet_score(content)
        if score is None:
            content = client.complete([{"role": "user", "content": text + _RETRY_SUFFIX}])
            score = parse_mmvet_score(content)
    except CallFailed as exc:
        return None, f"grader call failed: {exc}"
    return score, content


def grade_mmvet(rows: Sequence[dict[str, Any]], meta: dict[str, dict[str, Any]], client: Any,
                concurrency: int = 8, source: str = "generations") -> dict[str, Any]:
    """Grade generation rows (``id``, ``response``) against MM-Vet's samples with ``client``
    (a :class:`~unmask.judges.http.ChatClient` or anything with ``complete(messages) -> str``)."""
    todo = []
    for i, r in enumerate(rows, 1):
        rid = str(r.get("id"))
        if rid not in meta:
            raise UnmaskError(f"{source}: record {i} (id {rid!r}): not an MM-Vet sample id")
        if not isinstance(r.get("response"), str):
            raise UnmaskError(f"{source}: record {i} (id {rid!r}): missing text field 'response'")
        todo.append((rid, r["response"]))
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        graded = list(pool.map(lambda t: _grade_one(client, meta[t[0]]["question"], meta[t[0]]["answer"], t[1]),
                               todo))
    per: list[dict[str, Any]] = []
    by_cap: dict[str, list[float]] = defaultdict(list)
    for (rid, _), (score, content) in zip(todo, graded, strict=True):
        per.append({"id": rid, "score": score, "grader_reply": content})
        if score is not None:
            for cap in meta[rid]["capability"]:
                by_cap[str(cap)].append(score)
    scores = [p["score"] for p in per if p["score"] is not None]
    return {"kind": "mmvet", "n": len(per), "n_graded": len(scores), "n_ungraded": len(per) - len(scores),
            "score": sum(scores) / len(scores) if scores else None,
            "score_ungraded_as_zero": sum(scores) / len(per),
            "by_capability": {c: sum(v) / len(v) for c, v in sorted(by_cap.items())},
            "samples": per}
