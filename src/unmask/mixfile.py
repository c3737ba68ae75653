"""``unmask mix`` end to end: read the sources, plan, write the mixture atomically, write its manifest.

Large LLaVA JSON inputs take a fast path (:mod:`unmask.jsonscan`): the file is scanned for record
boundaries without being parsed, untouched records are copied byte for byte, and only the records that
become refusals are parsed and re-serialised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson
from pydantic import ValidationError

from .errors import UnmaskError, where
from .formats import (
    check_image_markers,
    conversation_from_row,
    detect_format,
    read_records,
    to_llava,
    write_records,
)
from .mix import MixConfig, MixItem, apply_plan, pick_curated, plan_mix, refuse_item
from .records import Conversation
from .store import atomic_path, write_manifest
from .vlguard import vlguard_conversations

__all__ = ["MixResult", "make_config", "run_mix"]


class MixResult(dict):
    """Counts of a finished mix (also written to the manifest)."""


def make_config(**kwargs: object) -> MixConfig:
    try:
        return MixConfig(**kwargs)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UnmaskError(f"mix: {err['msg'].removeprefix('Value error, ')}") from None


def _read_all(sources: Sequence[Path], fmt: str | None, image_root: Path | None, check_images: bool) -> list[Conversation]:
    out: list[Conversation] = []
    for src in sources:
        out.extend(read_records(src, fmt, image_root, check_images))
    return out


def _counts(plan: Sequence[MixItem], n_main: int, extra: int, templates: Counter) -> MixResult:
    return MixResult(
        input_records=n_main,
        output_records=len(plan) + extra,
        refusal_records=sum(1 for it in plan if it.refuse),
        untouched_records=sum(1 for it in plan if not it.refuse),
        curated_records=extra,
        refusal_templates={str(k): v for k, v in sorted(templates.items())},
    )


def _fast_path_ok(sources: Sequence[Path], out: Path, fmt: str | None, out_fmt: str | None,
                  refusal_source: Path | None, check_images: bool) -> bool:
    if len(sources) != 1 or refusal_source is not None or check_images:
        return False
    if (fmt or detect_format(sources[0])) != "llava":
        return False
    if (out_fmt or ("llava" if out.suffix == ".json" else None)) != "llava":
        return False
    try:
        from . import jsonscan  # noqa: F401
    except ImportError:
        return False
    return True


def _fast_mix(src: Path, out: Path, cfg: MixConfig, image_root: Path | None,
              curated: list[Conversation]) -> MixResult:
    from .formats import resolve_image
    from .jsonscan import scan_llava

    with scan_llava(src) as scan:
        n = len(scan)
        try:
            plan = plan_mix(n, cfg)
        except ValueError as exc:
            raise UnmaskError(f"{src}: {exc}") from None
        root = image_root if image_root is not None else src.parent
        templates: Counter = Counter()
        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            fh.write(b"[")
            first = True
            for item in plan:
                raw = scan.element(item.index)
                if item.refuse:
                    row = None
                    try:
                        row = orjson.loads(raw)
                        conv = conversation_from_row(row, item.index, src.stem, "llava")
                        for img in conv.images:
                            resolve_image(img, root)
                    except (ValueError, orjson.JSONDecodeError) as exc:
                        rid = row.get("id") if isinstance(row, dict) else None
                        raise UnmaskError(f"{where(src, item.index, rid)}: {exc}") from None
                    conv = refuse_item(conv, item, cfg)
                    templates[conv.metadata["refusal_template"]] += 1
                    raw = orjson.dumps(to_llava(conv))
                if not first:
                    fh.write(b",\n")
                fh.write(raw)
                first = False
            for conv in curated:
                if not first:
                    fh.write(b",\n")
                fh.write(orjson.dumps(to_llava(conv)))
                first = False
            fh.write(b"]\n")
    return _counts(plan, n, len(curated), templates)


def run_mix(sources: Sequence[str | Path], out: str | Path, cfg: MixConfig, *, fmt: str | None = None,
            out_format: str | None = None, image_root: str | Path | None = None, check_images: bool = False,
            refusal_source: str | Path | None = None, curated: str | Path | None = None,
            refusal_bank_path: str | Path | None = None) -> MixResult:
    """Build the mixture ``out`` (and ``out``'s manifest). Returns the counts."""
    sources = [Path(s) for s in sources]
    out = Path(out)
    if not sources:
        raise UnmaskError("mix: give at least one SOURCE")
    if any(out.resolve() == s.resolve() for s in sources):
        raise UnmaskError(f"{out}: the output would overwrite a source; choose another -o")
    root = Path(image_root) if image_root is not None else None
    curated_records = pick_curated_or_fail(curated, cfg)

    if _fast_path_ok(sources, out, fmt, out_format, refusal_source and Path(refusal_source), check_images):
        counts = _fast_mix(sources[0], out, cfg, root, curated_records)
    else:
        main = _read_all(sources, fmt, root, check_images)
        pool = read_records(refusal_source, None, root, check_images) if refusal_source else None
        try:
            plan = plan_mix(len(main), cfg, len(pool) if pool is not None else None)
        except ValueError as exc:
            raise UnmaskError(f"{sources[0] if len(sources) == 1 else 'mix'}: {exc}") from None
        mixed = apply_plan(plan, main, cfg, pool)
        for conv in mixed:
            check_image_markers(conv)
        templates = Counter(c.metadata["refusal_template"] for c, it in zip(mixed, plan, strict=True) if it.refuse)
        write_records([*mixed, *curated_records], out, out_format)
        counts = _counts(plan, len(main), len(curated_records), templates)

    inputs = [*sources, *([Path(refusal_source)] if refusal_source else []), *([Path(curated)] if curated else []),
              *([Path(refusal_bank_path)] if refusal_bank_path else [])]
    params = cfg.model_dump(mode="json")
    params.update(format=fmt, out_format=out_format, image_root=str(root) if root else None)
    write_manifest(out, "mix", inputs=inputs, params=params, counts=dict(counts), seed=cfg.seed)
    return counts


def pick_curated_or_fail(curated: str | Path | None, cfg: MixConfig) -> list[Conversation]:
    if curated is None:
        if cfg.curated_count is not None:
            raise UnmaskError("mix: --curated-count needs --curated VLGUARD_TRAIN_JSON")
        return []
    records = vlguard_conversations(curated)
    try:
        return pick_curated(records, cfg)
    except ValueError as exc:
        raise UnmaskError(f"{curated}: {exc}") from None
