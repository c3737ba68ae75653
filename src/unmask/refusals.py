"""Refusal texts: the default sentence in the paper's style, user banks, and a cheap detector.

The detector here is for *data analysis* (``unmask bias``: how many replies in a training set are
refusals). Judging model answers is the job of :mod:`unmask.judges`.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import UnmaskError

__all__ = ["DEFAULT_REFUSAL", "load_bank", "looks_like_refusal"]

DEFAULT_REFUSAL = "I'm sorry, but I cannot assist with your request."

# Openings and phrases that mark a reply as a refusal (case-insensitive, word boundaries).
_REFUSAL_PATTERNS = [
    r"^(i'?m|i am) (very |so |truly )?sorry",
    r"^sorry\b",
    r"^(i|we) (cannot|can't|can ?not|won't|will not|am unable to|are unable to|must decline)",
    r"^(unfortunately|regrettably),? (i|we) (cannot|can't|am unable|won't)",
    r"\b(i|we) (cannot|can't|won't|will not) (help|assist|provide|comply|fulfil|fulfill|support)",
    r"\bi'?m (not able|unable) to (help|assist|provide|comply)",
    r"\bas an ai\b.*\b(cannot|can't|not able)",
    r"\b(it is|it's) not appropriate\b",
    r"\bi must (respectfully )?decline\b",
    r"\bagainst (my|our) (guidelines|policy|policies)\b",
]
_REFUSAL_RE = re.compile("|".join(f"(?:{p})" for p in _REFUSAL_PATTERNS), re.IGNORECASE)


def looks_like_refusal(text: str, bank: list[str] | None = None) -> bool:
    """True when ``text`` is a template from ``bank`` or reads as a refusal (first ~300 chars)."""
    stripped = text.strip()
    if bank and stripped in bank:
        return True
    return bool(_REFUSAL_RE.search(stripped[:300]))


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
