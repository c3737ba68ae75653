"""How well a judge agrees with people: XSTest v2's and HarmBench's human-labelled model replies.

XSTest v2 (github.com/paul-rottger/exaggerated-safety, ``model_completions/``): 450 prompts (250 safe,
200 unsafe contrast prompts) answered by five chat models (GPT-4, Llama-2-70b-chat with and without
its original system prompt, Mistral-7B-Instruct with and without a guardrail prompt), each reply
labelled full compliance / full refusal / partial refusal by two annotators (``final_label``). That
is a refusal label: what ``keyword`` and ``keyword-short`` measure. :func:`read_xstest_completions`.

HarmBench ships ``data/classifier_val_sets/text_behaviors_val_set.json``: behavior id -> list of
{test_case, generation, model, method, experiment, behavior_id, human_0, human_1, human_2, and the
verdicts of published classifiers: ``llama_guard``, ``gpt-4-0613``, ``cls`` (the HarmBench
classifier), ``advbench`` (the AdvBench refusal-prefix string match), ...}. Real chat-model replies to
jailbreak prompts, each labelled 0/1 by three people; the label is 1 when the reply *is a harmful
instance of the behavior*. That is a harm label, not a refusal label: a refusal judge (``keyword``)
is scored here on whether "did not refuse" matches "harmful", which it cannot fully do (an evasive or
useless non-refusal is not harmful).

:func:`read_val_set` reads the file; :func:`judge_agreement` runs unmask judges on the replies and
scores every judge, and every published classifier column, against the human majority (2 of 3).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..data.store import read_json
from ..errors import UnmaskError
from .stats import cohen_kappa

__all__ = ["PUBLISHED_COLUMNS", "judge_agreement", "read_val_set", "read_xstest_completions", "score_labels"]

HUMANS = ("human_0", "human_1", "human_2")
# Published classifier columns of the file (0/1, or "yes"/"no" text), scored the same way when present.
PUBLISHED_COLUMNS = ("advbench", "llama_guard", "cls", "cls_mistral", "gpt-4-0613", "gpt-4-1106-preview",
                     "mixtral", "GPTFuzz", "chatglm", "gpt-3.5-turbo-0613")


def _flag(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return int(value.strip().lower() == "yes")
    return None


def read_val_set(path: str | Path, behaviors: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows {id, prompt, response, human (majority 0/1), published: {column: 0/1}} of the val set.

    ``prompt`` is the behavior text from HarmBench's behaviors CSV when ``behaviors`` is given (what the
    HarmBench classifier is asked about), else the test case (the jailbreak prompt that was sent)."""
    path = Path(path)
    data = read_json(path, dict, "HarmBench's val set (an object: behavior id -> list of records)")
    texts: dict[str, str] = {}
    if behaviors is not None:
        with open(behaviors, newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                ctx = (row.get("ContextString") or "").strip()
                texts[row.get("BehaviorID", "")] = (f"{ctx}\n\n---\n\n" if ctx else "") + row.get("Behavior", "")
    rows = []
    for bid, recs in data.items():
        if not isinstance(recs, list):
            raise UnmaskError(f"{path}: behavior {bid!r}: expected a list of records")
        for j, rec in enumerate(recs):
            loc = f"{path}: behavior {bid!r} record {j}"
            if not isinstance(rec, dict) or not isinstance(rec.get("generation"), str):
                raise UnmaskError(f"{loc}: needs a text 'generation'")
            votes = [_flag(rec.get(h)) for h in HUMANS]
            if any(v is None for v in votes):
                raise UnmaskError(f"{loc}: human_0/1/2 must be 0 or 1")
            published = {c: f for c in PUBLISHED_COLUMNS if (f := _flag(rec.get(c))) is not None}
            rows.append({"id": f"{bid}/{j}", "prompt": texts.get(bid) or str(rec.get("test_case") or ""),
                         "response": rec["generation"], "human": int(sum(votes) >= 2), "published": published})
    if not rows:
        raise UnmaskError(f"{path}: no records")
    return rows


XSTEST_LABELS = {"1_full_compliance": 0, "2_full_refusal": 1, "3_partial_refusal": 1}
XSTEST_PUBLISHED = ("strmatch_label", "gpt4_label")  # the XSTest paper's string match and GPT-4 classifier


def read_xstest_completions(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """XSTest v2's human-labelled completions (``model_completions/xstest_v2_completions_<model>.csv``,
    or the ``evaluation/automated_evaluation_labels/..._{streval,gpteval}.csv`` copies that add the
    paper's ``strmatch_label`` / ``gpt4_label``): rows {id, prompt, response, human, published} with
    ``human`` = 1 for a refusal (``final_label`` full or partial refusal, XSTest's two annotators
    reconciled). Files of one model are merged by id, so both published columns can sit side by side."""
    merged: dict[str, dict[str, Any]] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise UnmaskError(f"{path}: no such file")
        model = path.stem.removeprefix("xstest_v2_completions_").removesuffix("_streval").removesuffix("_gpteval")
        with open(path, newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                loc = f"{path}: record {i} (id {row.get('id')!r})"
                if row.get("final_label") not in XSTEST_LABELS or not isinstance(row.get("completion"), str):
                    raise UnmaskError(f"{loc}: needs 'completion' and a final_label of {', '.join(XSTEST_LABELS)}")
                rid = f"{model}/{row['id']}"
                rec = merged.setdefault(rid, {"id": rid, "prompt": row.get("prompt") or "",
                                              "response": row["completion"], "human": XSTEST_LABELS[row["final_label"]],
                                              "published": {}, "category": row.get("type") or ""})
                if rec["response"] != row["completion"]:
                    raise UnmaskError(f"{loc}: another completion than the same id in an earlier file")
                for col in XSTEST_PUBLISHED:
                    if row.get(col) in XSTEST_LABELS:
                        rec["published"][col] = XSTEST_LABELS[row[col]]
    if not merged:
        raise UnmaskError("no XSTest completions read")
    return list(merged.values())


def score_labels(human: Sequence[int], predicted: Sequence[int | None]) -> dict[str, Any]:
    """Agreement of 0/1 predictions (None = no decision) with the human majority."""
    pairs = [(h, p) for h, p in zip(human, predicted, strict=True) if p is not None]
    n = len(pairs)
    tp = sum(h == 1 and p == 1 for h, p in pairs)
    fp = sum(h == 0 and p == 1 for h, p in pairs)
    fn = sum(h == 1 and p == 0 for h, p in pairs)
    return {"n": n, "n_undecided": len(human) - n,
            "agreement": sum(h == p for h, p in pairs) / n if n else None,
            "kappa": cohen_kappa([(str(h), str(p)) for h, p in pairs]),
            "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None}


def judge_agreement(rows: Sequence[dict[str, Any]], judges: Sequence[Any],
                    positive: str = "complied") -> dict[str, dict[str, Any]]:
    """Score each judge (an unmask :class:`~unmask.judges.Judge`) and each published column present.

    ``positive`` is the verdict that means label 1: ``complied`` for HarmBench's harm labels,
    ``refused`` for XSTest's refusal labels."""
    human = [r["human"] for r in rows]
    items = [{"id": r["id"], "prompt": r["prompt"], "response": r["response"], "category": ""} for r in rows]
    out: dict[str, dict[str, Any]] = {}
    for j in judges:
        pred: list[int | None] = [None] * len(items)
        try:
            for start in range(0, len(items), j.batch_size):
                for k, v in j.judge(items[start:start + j.batch_size]):
                    pred[start + k] = None if v.verdict == "unjudged" else int(v.verdict == positive)
        finally:
            j.close()
        out[f"{j.name} {j.version}"] = {"measures": j.measures, **score_labels(human, pred)}
    for col in sorted({c for r in rows for c in r["published"]}, key=lambda c: (c not in PUBLISHED_COLUMNS, c)):
        if any(col in r["published"] for r in rows):
            out[f"published: {col}"] = {"measures": "as published",
                                        **score_labels(human, [r["published"].get(col) for r in rows])}
    return out
