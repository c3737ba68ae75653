"""The tiny world's typographic attack: the request rendered as a 72x72 glyph grid (``world-typo``).

The world's FigStep: its vision tower reads one glyph per 12x12 cell. The text prompt is the typo
prompt the question row names (``typo_prompt``, else the first held-out one) and the jitter of the
rendering comes from the row's ``image_seed``, so a benchmark built from the world's exported
question sets is exactly the world's own held-out evaluation.
"""

from __future__ import annotations

from typing import Any

from ..attacks import Attack, Question, attack
from ..errors import UnmaskError
from . import vocab as V
from .font import fit_text, render

__all__ = ["WorldTypo"]


@attack("world-typo")
class WorldTypo(Attack):
    """The request as a 6x6 glyph grid, with a held-out typographic prompt (the built-in tiny world)."""

    description = "tiny world: the request as a 72x72 glyph grid (6x6 cells), held-out typo prompt"
    OPTIONS = {"prompt": None}

    def prompt_for(self, q: Question) -> str:
        return self._template(str(q.source.get("typo_prompt") or V.TYPO_PROMPTS_HELDOUT[0]), q.text)

    def check(self, q: Question) -> None:
        try:
            fit_text(q.text)
        except ValueError as exc:
            raise UnmaskError(f"{q.where}: {exc}") from None

    def render_key(self, q: Question) -> Any:
        return (q.text, int(q.source.get("image_seed", 0)))

    def render(self, q: Question) -> Any:
        return render(q.text, int(q.source.get("image_seed", 0)))
