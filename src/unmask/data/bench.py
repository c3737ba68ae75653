"""A benchmark folder: ``DIR/samples.jsonl``, one :class:`~unmask.data.records.Sample` a line. ``unmask attack``
writes it; generation, the probes and the OCR check read it with :func:`read_bench`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import UnmaskError, where
from .records import Sample

__all__ = ["read_bench"]


def read_bench(folder: str | Path) -> list[Sample]:
    """Read ``DIR/samples.jsonl``; every bad row is an error naming the file and the line."""
    import orjson

    folder = Path(folder)
    path = folder / "samples.jsonl"
    if not folder.is_dir():
        raise UnmaskError(f"{folder}: no such benchmark folder")
    if not path.is_file():
        raise UnmaskError(
            f"{folder}: not a benchmark folder (no samples.jsonl); build one with `unmask attack`"
        )
    samples: list[Sample] = []
    seen: set[str] = set()
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                sample = Sample.model_validate(orjson.loads(line))
            except orjson.JSONDecodeError:
                raise UnmaskError(f"{where(path, line=lineno)}: invalid JSON") from None
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(x) for x in err["loc"])
                raise UnmaskError(f"{where(path, line=lineno)}: {loc}: {err['msg']}") from None
            if sample.id in seen:
                raise UnmaskError(f"{where(path, line=lineno)}: duplicate sample id {sample.id!r}")
            seen.add(sample.id)
            samples.append(sample)
    if not samples:
        raise UnmaskError(f"{path}: no samples")
    return samples
