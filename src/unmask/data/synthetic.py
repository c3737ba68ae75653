"""Synthetic images: the ``unmask://`` references the mix's image ablations write, parsed and built here only.

- ``unmask://blank?size=N``            a white N x N image (default 336)
- ``unmask://noise?seed=S&size=N``     uniform RGB noise from seed S (same seed, same pixels)

This module knows the syntax (standard library only, so every layer may use it); :mod:`unmask.data.images`
draws the pixels.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

__all__ = ["SCHEME", "is_synthetic", "parse_synthetic", "synthetic_ref"]

SCHEME = "unmask://"
_MAX_SYNTH = 4096
_MAX_SEED = 2**64 - 1
_PARAMS = {"blank": {"size"}, "noise": {"seed", "size"}}


def is_synthetic(ref: str) -> bool:
    """Whether an image reference is a synthetic ``unmask://`` one (not a path)."""
    return ref.startswith(SCHEME)


def synthetic_ref(kind: str, size: int, seed: int | None = None) -> str:
    """The reference :func:`parse_synthetic` reads back: ``unmask://blank?size=N`` or
    ``unmask://noise?seed=S&size=N`` (parameters in that order: it is written into mixtures byte for byte)."""
    if kind == "blank":
        return f"{SCHEME}blank?size={size}"
    if kind == "noise":
        return f"{SCHEME}noise?seed={seed}&size={size}"
    raise ValueError(f"unknown synthetic image {kind!r} (expected blank or noise)")


def parse_synthetic(ref: str) -> tuple[str, int, int]:
    """``(kind, size, seed)`` of an ``unmask://`` reference; ``ValueError`` naming what is wrong (an unknown
    kind or parameter, a repeated one, a value that is not an integer or out of range)."""
    url = urlparse(ref)
    kind = url.netloc
    if kind not in _PARAMS:
        raise ValueError(f"unknown synthetic image {kind!r} (expected blank or noise)")
    if url.path not in ("", "/") or url.params or url.fragment:
        raise ValueError(f"malformed synthetic image {ref!r} (expected {SCHEME}blank?size=N or "
                         f"{SCHEME}noise?seed=S&size=N)")
    try:
        query = parse_qs(url.query, keep_blank_values=True, strict_parsing=bool(url.query))
    except ValueError:
        raise ValueError(f"synthetic image {ref!r}: malformed parameters") from None
    for name, values in query.items():
        if name not in _PARAMS[kind]:
            raise ValueError(f"synthetic image {ref!r}: unknown parameter {name!r} (known: "
                             f"{', '.join(sorted(_PARAMS[kind]))})")
        if len(values) > 1:
            raise ValueError(f"synthetic image {ref!r}: {name} given {len(values)} times")
    values = {}
    for name, default, low, high in (("size", 336, 1, _MAX_SYNTH), ("seed", 0, 0, _MAX_SEED)):
        raw = query.get(name, [str(default)])[0]
        if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
            raise ValueError(f"synthetic image {ref!r}: {name} must be between {low} and {high} "
                             f"(a whole number), not {raw!r}")
        values[name] = int(raw)
    return kind, values["size"], values["seed"]
