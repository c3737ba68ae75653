"""Refusal texts: the paper's exact sentence (the default), user banks, and a cheap detector.

The detector here is for *data analysis* (``unmask bias``: how many replies in a training set are
refusals). Judging model answers is the job of :mod:`unmask.judges`.
"""

from __future__ import annotations

from pathlib import Path

from ..data.refusal_phrases import find_refusal
from ..errors import UnmaskError

__all__ = ["DEFAULT_REFUSAL", "PAPER_REFUSAL", "load_bank", "looks_like_refusal"]

# The paper's sentence, exactly as its code writes it (``utils/mix_rejection_data.py --reply``) and looks
# for it (``train_without_eos.py``; its LLaMA-Factory edit compares replies with ``==``): no final period.
# A mix made with any other sentence silently loses the paper's no-EOS trick in the paper's own code.
PAPER_REFUSAL = "I'm sorry, but I cannot assist with your request"

# unmask's default refusal is the paper's sentence.
DEFAULT_REFUSAL = PAPER_REFUSAL


def looks_like_refusal(text: str, bank: list[str] | None = None) -> bool:
    """True when ``text`` is a template from ``bank`` or opens as a refusal.

    Uses the keyword judge's phrase list (:func:`unmask.data.refusal_phrases.find_refusal`) on the reply's
    opening only: a long helpful answer that says "I cannot stress enough" deep inside is not a refusal.
    """
    stripped = text.strip()
    if bank and stripped in bank:
        return True
    return find_refusal(stripped[:200]) is not None


def load_bank(path: str | Path) -> list[str]:
    """One refusal per line; blank lines and ``#`` comments ignored. Empty bank is an error."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnmaskError(f"{path}: cannot read refusal bank ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UnmaskError(f"{path}: line {line}: not valid UTF-8") from None
    bank = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not bank:
        raise UnmaskError(f"{path}: the refusal bank is empty")
    return bank
