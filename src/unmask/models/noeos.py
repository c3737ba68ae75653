"""Which records ``--no-eos-on-refusal`` applies to: the paper's refusal sentence, unmask's, or metadata.

The paper's trick (LLaVA's ``train_without_eos.py``): in a refusal record the end-of-turn token gets no
loss, so the model learns to refuse without learning to stop there. Its code finds refusal records by
text: "I'm sorry, but I cannot assist with your request" anywhere in the conversation. unmask finds them
by that sentence (with or without its final period), by unmask's own default refusal sentence, and by
``metadata.refusal`` (what ``unmask mix`` writes), so the paper's own plain-LLaVA-JSON mixes keep the trick.
"""

from __future__ import annotations

from ..data.records import Conversation
from ..mix.refusals import DEFAULT_REFUSAL, PAPER_REFUSAL

__all__ = ["REFUSAL_SENTENCES", "contains_refusal", "refusal_turns"]

# Substrings: the paper's test is ``sentence in conversation``, which also matches the sentence + ".".
REFUSAL_SENTENCES: tuple[str, ...] = tuple(dict.fromkeys((PAPER_REFUSAL, DEFAULT_REFUSAL.rstrip("."))))


def contains_refusal(text: str) -> bool:
    """True when ``text`` holds the paper's refusal sentence or unmask's default one."""
    return any(s in text for s in REFUSAL_SENTENCES)


def refusal_turns(conv: Conversation) -> set[int]:
    """Indices of the assistant turns whose end-of-turn token gets no loss under ``--no-eos-on-refusal``.

    ``metadata.refusal_turns`` when given; every reply of a record marked ``metadata.refusal``; otherwise
    the replies that contain a refusal sentence.
    """
    if conv.is_refusal:
        marked = conv.metadata.get("refusal_turns")
        return set(marked) if isinstance(marked, list) else set(conv.assistant_indices())
    return {i for i in conv.assistant_indices() if contains_refusal(conv.turns[i].text)}
