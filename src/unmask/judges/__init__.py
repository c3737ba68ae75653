"""Judges: decide, for each model answer, whether it ``refused`` or ``complied`` (or is ``unjudged``).

A judge is a class registered by name with ``@judge("name")``; the CLI and recipes pick it by that
name (``unmask judge --judge keyword``). Every :class:`~unmask.data.records.Verdict` a judge writes carries
the judge's ``name`` and ``version`` (the version changes whenever the judge would decide differently:
another phrase list, prompt template or judge model), so a number can always be traced to its judge.

A judge also says what it ``measures``: ``"refusal"`` (did the model refuse? keyword judges, the
``refusal`` LLM template) or ``"harm"`` (is the answer harmful? HarmBench / MM-SafetyBench-style LLM
templates, Llama-Guard-style classifiers: ``complied`` means harmful, ``refused`` means not harmful).
Metrics use that to refuse to call "not harmful" an over-refusal on benign prompts.

Built-in judges (imported lazily, so listing them loads no heavy library):

- ``keyword``, ``keyword-short``: refusal phrases (:mod:`unmask.judges.keyword`)
- ``paper``: the paper's own keyword judge, verbatim (its ``strmatch_label``; :mod:`unmask.judges.keyword`)
- ``keyword-xs``: refusal phrases chosen on human-labelled replies (:mod:`unmask.judges.keyword_xs`)
- ``llm``: an OpenAI-compatible chat endpoint (:mod:`unmask.judges.llm`)
- ``hf-classifier``: a local Hugging Face guard model (:mod:`unmask.judges.hf`)
- ``llama-guard-3``, ``llama-guard-3-vision``, ``llama-guard-4``, ``md-judge``, ``harmbench-cls``: guard
  models with their documented prompts, local or served (:mod:`unmask.judges.guard_judges`)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from ..data.records import Verdict
from ..errors import UnmaskError
from ..registry import Registry

__all__ = ["JUDGES", "Judge", "JudgeItem", "available", "get_judge", "judge"]

# name -> class; filled by @judge when a judge module is imported (one Registry type for every kind of name).
JUDGES: Registry[type[Judge]] = Registry("judge")

# Built-in judges live in modules imported on first use (the llm and hf judges pull in heavy things).
for _name, _module in {
    "keyword": "unmask.judges.keyword",
    "keyword-short": "unmask.judges.keyword",
    "paper": "unmask.judges.keyword",
    "keyword-xs": "unmask.judges.keyword_xs",
    "llm": "unmask.judges.llm",
    "hf-classifier": "unmask.judges.hf",
    **{g: "unmask.judges.guard_judges" for g in ("llama-guard-3", "llama-guard-3-vision", "llama-guard-4",
                                                 "md-judge", "harmbench-cls")},
}.items():
    JUDGES.lazy(_name, _module)
del _name, _module

# What a judge sees of one generation row. ``prompt`` is "" when the row has none.
JudgeItem = dict[str, Any]


class Judge:
    """Base class. Subclasses set ``name`` (via ``@judge``), ``version`` and ``measures``.

    ``judge(items)`` yields ``(index, Verdict)`` pairs in any order (so slow judges can hand back each
    verdict as soon as it is ready, for the journal); every index of ``items`` must be yielded once.
    A judge must never turn a failure into ``refused``: failures are ``unjudged`` with a reason.
    """

    name: ClassVar[str] = ""
    measures: ClassVar[str] = "refusal"
    needs_prompt: ClassVar[bool] = False  # True: rows without a prompt cannot be judged
    batch_size: int = 64  # how many items the runner hands over at once
    version: str = "1"

    def judge(self, items: Sequence[JudgeItem]) -> Iterator[tuple[int, Verdict]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Settings for the manifest (never secrets)."""
        return {"judge": self.name, "version": self.version, "measures": self.measures}

    def close(self) -> None:
        """Release resources (thread pools, models)."""

    def verdict(self, item: JudgeItem, verdict: str, reason: str = "", score: float | None = None) -> Verdict:
        return Verdict(id=item["id"], verdict=verdict, judge=self.name, judge_version=self.version,
                       reason=reason, score=score, measures=self.measures)


def judge(name: str, *, replace: bool = False) -> Callable[[type[Judge]], type[Judge]]:
    """Register a :class:`Judge` subclass under ``name``: ``@judge("keyword") class Keyword(Judge): ...``.
    A name taken by another class is an error unless ``replace=True``."""

    def deco(cls: type[Judge]) -> type[Judge]:
        JUDGES.add(name, cls, replace=replace)
        cls.name = name
        return cls

    return deco


def available() -> list[str]:
    """Every judge name: built-in (imported or not) and plugin-provided."""
    return JUDGES.names()


def get_judge(name: str, **options: Any) -> Judge:
    """Build the judge registered as ``name`` with its options (unknown options are an error)."""
    cls = JUDGES.get(name)
    try:
        return cls(**options)
    except TypeError as exc:
        # A CLI option that does not belong to this judge lands here; say which judge refused it.
        if "unexpected keyword argument" in str(exc):
            bad = str(exc).split("argument")[-1].strip(" '")
            raise UnmaskError(f"judge {name!r} takes no option {bad!r}") from None
        raise
