"""Hidden states at the last prompt token, and the refusal-opening log-odds there, in one forward pass.

Prompts are left-padded, so the last position of every row is its last prompt token (the generation
prompt's end: where the reply's first token is predicted). ``hidden_states`` of the language model are
taken as transformers returns them: index 0 is the embedding output, index ``i`` the output of decoder
layer ``i``. The log-odds are those of the refusal's opening token at that position, ``log p - log(1-p)``
(the continuous measure the tiny world's summary carries too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Request", "States", "collect_states", "refusal_token_id"]


@dataclass(frozen=True)
class Request:
    """One request in one route: ``image`` is None for the text route."""

    id: str
    prompt: str
    harmful: bool
    cluster: str  # what the bootstrap resamples: the topic, or the request itself
    image: Any = None  # a path (benchmark folder) or a probe set's own image
    payload: Any = None  # what a probe set's batch builder needs


@dataclass
class States:
    hidden: np.ndarray  # (n, layers + 1, d) float32
    logodds: np.ndarray  # (n,)


def refusal_token_id(tokenizer: Any, opening: str = "I") -> int:
    """The id of the first token of the refusal's opening word as the reply's first token."""
    ids = tokenizer(opening, add_special_tokens=False)["input_ids"]
    if not ids:
        from ..errors import UnmaskError

        raise UnmaskError(f"--refusal-token {opening!r} encodes to no token")
    return int(ids[0])


def collect_states(model: Any, requests: Sequence[Request], build: Callable[[Sequence[Request]], dict[str, Any]],
                   refusal_id: int, batch_size: int = 16) -> States:
    """Run ``model`` over ``requests`` in batches made by ``build`` (left-padded inputs)."""
    import torch

    param = next(model.parameters())
    hidden, logodds = [], []
    for i in range(0, len(requests), batch_size):
        batch = build(requests[i:i + batch_size])
        batch = {k: (v.to(param.device, param.dtype) if v.is_floating_point() else v.to(param.device))
                 for k, v in batch.items()}
        with torch.no_grad():
            out = model(**batch, output_hidden_states=True, return_dict=True)
        hs = torch.stack([h[:, -1, :] for h in out.hidden_states], dim=1)  # (b, layers + 1, d)
        hidden.append(hs.float().cpu().numpy())
        lp = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)[:, refusal_id]
        logodds.append((lp - torch.log1p(-lp.exp().clamp(max=1 - 1e-7))).cpu().numpy())
    return States(np.concatenate(hidden), np.concatenate(logodds))
