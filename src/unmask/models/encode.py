"""``unmask encode``: what a training step sees for each record, without loading any weights.

One JSONL line per record, ``{"id", "input_ids", "labels"}``: image placeholders expanded as the model's
processor expands them, labels -100 where there is no loss. It runs :func:`~.dataset.training_data`,
the very function ``unmask train`` encodes its data with, so the two cannot drift apart; compare it with
the reference training code of a model family (``../shared/golden``) to check unmask token for token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UnmaskError
from .dataset import DataStats

__all__ = ["encode_file", "load_processor_only"]


def load_processor_only(processor: str, family: str | None = None, trust_remote_code: bool = False) -> Any:
    """(family, processor) from a processor folder or hub id; the family from its config.json by default."""
    from .registry import detect_family, get_family

    local = Path(processor).expanduser()
    if not local.exists() and (processor.startswith(("/", "./", "../", "~")) or processor.count("/") > 1):
        raise UnmaskError(f"{processor}: no such processor folder")
    fam = get_family(family) if family else detect_family(str(local) if local.exists() else processor)
    if fam.builtin_names:  # a family with built-in weights ships its processor too
        _, proc = fam.load_builtin(None)
    else:
        try:
            proc = fam.load_processor(str(local) if local.exists() else processor, trust_remote_code=trust_remote_code)
        except UnmaskError:
            raise
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise UnmaskError(f"{processor}: cannot load the processor ({type(exc).__name__}: {first})") from exc
    return fam, proc


def encode_file(
    data: str | Path,
    processor: str,
    out: str | Path,
    *,
    family: str | None = None,
    data_format: str | None = None,
    image_root: str | Path | None = None,
    max_length: int | None = None,
    no_eos_on_refusal: bool = False,
    trust_remote_code: bool = False,
) -> DataStats:
    """Encode every record of ``data`` as ``unmask train`` does and write ``out`` (JSONL, atomically)."""
    import orjson

    from ..data.store import atomic_path, write_manifest
    from .dataset import training_data

    fam, proc = load_processor_only(processor, family, trust_remote_code)
    dataset = training_data(
        str(data),
        fam,
        proc,
        data_format=data_format,
        image_root=str(image_root) if image_root is not None else None,
        max_length=max_length,
        no_eos_on_refusal=no_eos_on_refusal,
    )
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        for i in range(len(dataset)):
            item = dataset[i]
            row = {"id": item.id, "input_ids": item.input_ids.tolist(), "labels": item.labels.tolist()}
            fh.write(orjson.dumps(row) + b"\n")
    write_manifest(
        out,
        "encode",
        inputs=[data] if Path(data).is_file() else [],
        params={
            "processor": processor,
            "family": fam.name,
            "format": data_format,
            "image_root": str(image_root) if image_root is not None else None,
            "max_length": max_length,
            "no_eos_on_refusal": no_eos_on_refusal,
            "encoding": getattr(dataset.encoder.reference, "name", "chat_template"),
        },
        counts=dataset.stats.as_dict(),
    )
    return dataset.stats
