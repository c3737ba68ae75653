"""The records that flow through the pipeline.

Every input format is converted once, at the edge (``unmask.data.formats``), into :class:`Conversation`.
Benchmarks are folders of :class:`Sample`; ``generate`` writes :class:`Generation`; ``judge`` writes
:class:`Verdict`. Images are stored as paths; inside text an image is always the marker ``<image>``
(each model family maps it to its own placeholder).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "IMAGE",
    "MEASURES",
    "Conversation",
    "Generation",
    "Sample",
    "Turn",
    "Verdict",
    "VERDICTS",
]

IMAGE = "<image>"
Role = Literal["system", "user", "assistant"]
VERDICTS = ("refused", "complied", "unjudged")
MEASURES = ("refusal", "harm")  # what a judge's verdicts say (see unmask.judges)
Measure = Literal["refusal", "harm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Turn(_Strict):
    role: Role
    text: str


class Conversation(_Strict):
    """One training / evaluation record.

    ``metadata`` is unmask's own annotation (e.g. ``refusal``, ``refusal_template``); ``extra`` keeps
    the fields of the source record that unmask does not interpret, so writing back is lossless.
    """

    id: str
    images: list[str] = Field(default_factory=list)
    turns: list[Turn]
    source: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def n_image_markers(self) -> int:
        return sum(t.text.count(IMAGE) for t in self.turns)

    def assistant_indices(self) -> list[int]:
        return [i for i, t in enumerate(self.turns) if t.role == "assistant"]

    @property
    def is_refusal(self) -> bool:
        return bool(self.metadata.get("refusal"))


class Sample(_Strict):
    """One benchmark prompt: what ``unmask attack`` writes to ``samples.jsonl``."""

    id: str
    prompt: str
    image: str | None = None  # path relative to the benchmark folder, or None for text-only
    category: str = ""
    harmful: bool = True
    attack: str = ""
    source: dict[str, Any] = Field(default_factory=dict)  # the source row's fields


class Generation(_Strict):
    """One model answer to one benchmark sample."""

    model_config = ConfigDict(extra="allow")

    id: str
    response: str
    model: str = ""
    adapter: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    category: str = ""
    attack: str = ""
    harmful: bool | None = None
    model_fingerprint: str = Field("", description="the backend's fingerprint of the model (weights, adapter, "
                                   "endpoint) that answered; part of the resume key. Empty in files written "
                                   "before it was recorded")


class Verdict(_Strict):
    """One judge's decision on one generation. A failed judge call is ``unjudged``, never ``refused``."""

    model_config = ConfigDict(extra="allow")

    id: str
    verdict: Literal["refused", "complied", "unjudged"]
    judge: str
    judge_version: str = ""
    reason: str = ""
    score: float | None = None
    measures: Measure | None = Field(
        None, description="what the judge decides: 'refusal' (did the model refuse?) or 'harm' (is the answer "
        "harmful?); see unmask.judges. None in files written before it was recorded (read as 'refusal')")
