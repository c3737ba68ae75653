"""The mix settings, declared once.

:class:`MixSettings` holds what a user chooses about a mixture, with its types, bounds, defaults and help;
every front end is built from it:

- ``unmask mix`` takes one option per field (same name, same default, the description as its help) and
  builds :class:`MixConfig` through :func:`make_config`, so the model validates (a test checks the options
  against the fields, both ways);
- a recipe's ``mix:`` block (:class:`unmask.pipeline.config.MixSpec`) subclasses it, adding only what a
  recipe names differently (a bank *file*, one refusal sentence, whether to add the curated set);
- :class:`MixConfig` adds what the method needs to run: the seed, the refusal texts and the ablation
  image size. It checks the choice of mode (fraction, or counts).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import UnmaskError
from .refusals import DEFAULT_REFUSAL

__all__ = ["ImageMode", "MixConfig", "MixSettings", "make_config"]

ImageMode = Literal["keep", "blank", "noise", "remove"]


class MixSettings(BaseModel):
    """What a user chooses about one mixture (``unmask mix`` options, a recipe's ``mix:`` keys)."""

    model_config = ConfigDict(extra="forbid")

    fraction: float | None = Field(
        None, description="Share P of records whose replies become refusals: exactly round(P*N), all N written.")
    rejections: int | None = Field(
        None, ge=0, description="Counts mode (the paper's): R records become refusals...")
    keep: int | None = Field(None, ge=0, description="...and K other records stay untouched (output R+K).")
    all_turns: bool = Field(
        False, description="Replace every assistant turn (default: keep one random question-refusal turn, "
        "as the paper).")
    refusal_image: ImageMode = Field(
        "keep", description="Ablation for refusal records' images: keep | blank | noise | remove.")
    same_ids: bool = Field(
        False, description="Contrastive ablation: refused records also appear answered (refusal copies get id "
        "'<id>#refusal').")
    curated_count: int | None = Field(
        None, ge=0, description="Add only C of the curated file's records (LLaVA format: conversations, a safe "
        "image's two requests being one; train.json: pairs), drawn by seed, kept in file order.")


class MixConfig(MixSettings):
    """Settings of one mixture as the method runs it. Exactly one of ``fraction`` or (``rejections``,
    ``keep``) is given."""

    seed: int = Field(0, description="Random seed; same inputs and seed give a byte-identical output.")
    refusals: list[str] = Field(default_factory=lambda: [DEFAULT_REFUSAL], min_length=1,
                                description="the refusal bank: one template chosen per record by seed")
    ablation_size: int = Field(336, ge=1, le=4096, description="side of the blank / noise ablation images "
                               "(336: LLaVA-1.5's CLIP input)")

    @model_validator(mode="after")
    def _one_mode(self) -> MixConfig:
        counts = self.rejections is not None or self.keep is not None
        if self.fraction is None and not counts:
            raise ValueError("give --fraction P, or --rejections R with --keep K")
        if self.fraction is not None and counts:
            raise ValueError("--fraction and --rejections/--keep are two modes; give one")
        if counts and (self.rejections is None or self.keep is None):
            raise ValueError("counts mode needs both --rejections and --keep")
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"--fraction must be within [0, 1], got {self.fraction}")
        if self.same_ids and self.rejections is not None and self.keep is not None and self.rejections > self.keep:
            raise ValueError("--same-ids needs --rejections <= --keep (refusals are copies of kept records)")
        return self


def make_config(**kwargs: object) -> MixConfig:
    """:class:`MixConfig` from ``kwargs``; a bad setting is one :class:`UnmaskError` line (``mix: ...``)."""
    try:
        return MixConfig(**kwargs)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        flag = f"--{str(err['loc'][0]).replace('_', '-')}: " if err["loc"] else ""  # a field's own bound
        raise UnmaskError(f"mix: {flag}{msg}") from None
