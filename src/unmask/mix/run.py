"""``unmask mix`` end to end: read the sources, plan, write the mixture atomically, write its manifest.

Large LLaVA JSON inputs take a fast path (:mod:`unmask.mix.fastscan.scan`): the file is scanned for record
boundaries without being parsed, untouched records are copied byte for byte, and only the records that
become refusals are parsed and re-serialised.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson

from ..data.formats import check_image_markers, detect_format, read_records, to_llava, write_records
from ..data.images import check_image_file
from ..data.paths import PathChecker, is_synthetic, resolve_image
from ..data.records import Conversation
from ..data.rows import LLAVA_NAMES, llava_row
from ..data.store import atomic_path, sha256_file, write_manifest
from ..errors import UnmaskError, where
from .method import MixConfig, MixItem, apply_plan, pick_curated, plan_arrays, plan_mix, refusal_parts
from .output import Rebase
from .settings import make_config  # re-exported: the one builder of MixConfig
from .vlguard import curated_records

__all__ = ["MixResult", "make_config", "run_mix"]


class MixResult(dict):
    """Counts of a finished mix (also written to the manifest); ``warnings``: lines for stderr."""

    warnings: list[str]


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


def _fast_path_ok(cfg: MixConfig, sources: Sequence[Path], out: Path, fmt: str | None, out_fmt: str | None,
                  refusal_source: Path | None, check_images: bool) -> bool:
    if len(sources) != 1 or refusal_source is not None or check_images or cfg.same_ids:
        return False
    if (fmt or detect_format(sources[0])) != "llava":
        return False
    if (out_fmt or ("llava" if out.suffix == ".json" else None)) != "llava":
        return False
    try:
        from .fastscan import scan  # noqa: F401
    except ImportError:
        return False
    return True


def _refuse_llava_row(row: object, item: MixItem, cfg: MixConfig) -> dict:
    """The fast path's refusal on a decoded LLaVA row (checked by the one row check, as the scanner
    did): no pydantic round trip, unknown fields kept as they are."""
    checked = llava_row(row, item.index)
    assert isinstance(row, dict)
    image = row.get("image")
    turns, images, meta = refusal_parts(checked.turns, checked.images, cfg, (item.pool, item.index))
    out = {k: v for k, v in row.items() if k not in ("image", "conversations", "metadata")}
    if images:
        out["image"] = images[0] if isinstance(image, str) and len(images) == 1 else images
    out["conversations"] = [{"from": LLAVA_NAMES[r], "value": x} for r, x in turns]
    out["metadata"] = {**checked.metadata, **meta}
    if item.copy:
        out["metadata"]["pair_of"] = str(row.get("id"))
        out["id"] = f"{row.get('id')}#refusal"
    return out


def _fast_mix(src: Path, out: Path, cfg: MixConfig, image_root: Path | None,
              curated: list[Conversation], rebase: Rebase | None = None) -> MixResult:
    """Copy runs of untouched records byte for byte (inside the kernel); parse only the refused ones.

    Every record is checked by the scanner as the slow path checks it (the one row check,
    ``unmask.data.rows.llava_row``, and its image paths against the image root); the untouched ones are
    then copied unchanged."""
    import numpy as np

    from .fastscan.scan import scan_llava

    root = image_root if image_root is not None else src.parent
    check_path = PathChecker(root)
    templates: Counter = Counter()
    with scan_llava(src, check_path=check_path) as scan:
        try:
            arrays = plan_arrays(len(scan), cfg)
        except ValueError as exc:
            raise UnmaskError(f"{src}: {exc}") from None
        assert arrays is not None, "the fast path takes the modes plan_arrays covers"
        idx, refuse = arrays
        # Segments: each refused record alone; each run of consecutive untouched source records together.
        brk = np.ones(len(idx), dtype=bool)
        if len(idx) > 1:
            brk[1:] = refuse[1:] | refuse[:-1] | (idx[1:] != idx[:-1] + 1)
        starts = np.flatnonzero(brk)
        ends = np.append(starts[1:], len(idx)) - 1
        first_byte = scan.spans[idx[starts], 0].tolist() if len(idx) else []
        last_byte = scan.spans[idx[ends], 1].tolist() if len(idx) else []
        seg_refuse = refuse[starts].tolist()
        seg_index = idx[starts].tolist()
        seg_last = idx[ends].tolist()
        with atomic_path(out) as tmp, open(tmp, "wb", buffering=0) as fh:
            # Unbuffered: refused records and kernel-side copies of untouched runs interleave, and a
            # Python buffer would need a flush before every copy.
            fh.write(b"[")
            for k, (a, b, is_refusal, i) in enumerate(zip(first_byte, last_byte, seg_refuse, seg_index, strict=True)):
                if k:
                    fh.write(b",\n")
                if not is_refusal and rebase is None:
                    scan.write_range(fh, a, b)
                    continue
                if not is_refusal:  # paths rewritten: each record of the run parsed, rebased, re-serialised
                    for j in range(i, seg_last[k] + 1):
                        if j > i:
                            fh.write(b",\n")
                        fh.write(_rebased_row(scan, j, src, rebase, root))
                    continue
                row = None
                try:
                    row = orjson.loads(scan.read(i))
                    new = _refuse_llava_row(row, MixItem("main", i, True), cfg)
                    imgs = new.get("image", [])
                    for img in [imgs] if isinstance(imgs, str) else imgs:
                        check_path(img)
                except (ValueError, KeyError, orjson.JSONDecodeError) as exc:
                    rid = row.get("id") if isinstance(row, dict) else scan.record_id(i)
                    raise UnmaskError(f"{where(src, i, rid)}: {exc}") from None
                templates[new["metadata"]["refusal_template"]] += 1
                if rebase is not None:
                    _rebase_row(new, src, i, rebase, root)
                fh.write(orjson.dumps(new))
            for k, conv in enumerate(curated):
                if k or len(idx):
                    fh.write(b",\n")
                fh.write(orjson.dumps(to_llava(conv)))
            fh.write(b"]\n")
        n = len(scan)
    return MixResult(input_records=n, output_records=len(idx) + len(curated), refusal_records=int(refuse.sum()),
                     untouched_records=int((~refuse).sum()), curated_records=len(curated),
                     refusal_templates={str(k): v for k, v in sorted(templates.items())})


def _rebase_row(row: dict, src: Path, i: int, rebase: Rebase, root: Path) -> None:
    image = row.get("image")
    try:
        if isinstance(image, str):
            row["image"] = rebase.path(image, root)
        elif isinstance(image, list):
            row["image"] = [rebase.path(x, root) for x in image]
    except ValueError as exc:
        raise UnmaskError(f"{where(src, i, row.get('id'))}: {exc}") from None


def _rebased_row(scan: object, i: int, src: Path, rebase: Rebase, root: Path) -> bytes:
    """An untouched record (checked by the scanner, image paths included) with its image paths rebased."""
    row = orjson.loads(scan.read(i))  # type: ignore[attr-defined]
    _rebase_row(row, src, i, rebase, root)
    return orjson.dumps(row)


def run_mix(sources: Sequence[str | Path], out: str | Path, cfg: MixConfig, *, fmt: str | None = None,
            out_format: str | None = None, image_root: str | Path | None = None, check_images: bool = False,
            refusal_source: str | Path | None = None, curated: str | Path | None = None,
            refusal_bank_path: str | Path | None = None, curated_images: str | Path | None = None,
            curated_layout: str = "auto", out_image_root: str | Path | None = None) -> MixResult:
    """Build the mixture ``out`` (and ``out``'s manifest). Returns the counts.

    ``out_image_root``: the folder the output's image paths are made relative to (see
    :mod:`unmask.mix.output`); None keeps them relative to the image root. Rewriting parses every record
    (on the fast path too: untouched records are then re-serialised instead of copied), unless the
    folder is the image root itself (nothing changes, byte for byte).

    ``curated_images``: the folder the curated set's image paths are relative to (VLGuard: its unzipped
    ``train/``); the curated records' paths are rewritten relative to the image root, under which it must
    lie. Without it they are taken relative to the image root as they are. ``curated_layout``: ``auto`` (a
    LLaVA-format file as it is, a raw train.json one record per pair), ``llava`` (a raw train.json converted
    as VLGuard's convert_to_llava_format.py does) or ``pairs``."""
    sources = [Path(s) for s in sources]
    out = Path(out)
    if not sources:
        raise UnmaskError("mix: give at least one SOURCE")
    if any(out.resolve() == s.resolve() for s in sources):
        raise UnmaskError(f"{out}: the output would overwrite a source; choose another -o")
    root = Path(image_root) if image_root is not None else None
    main_root = root if root is not None else (sources[0] if sources[0].is_dir() else sources[0].parent)
    curated_records, curated_info, warnings = pick_curated_or_fail(curated, cfg, main_root, curated_images,
                                                                   check_images, curated_layout)

    refusal_root = root if root is not None else Path(refusal_source).parent if refusal_source else None
    rebase = Rebase(out_image_root) if out_image_root is not None else None
    if rebase is not None and rebase.identity(main_root) and (refusal_root is None or rebase.identity(refusal_root)):
        rebase = None  # the output's image folder is the image root: paths stay as they are

    digests: dict[str, str] = {}
    if _fast_path_ok(cfg, sources, out, fmt, out_format, refusal_source and Path(refusal_source), check_images):
        # The manifest's sha256 of a large input, hashed on the other core while the scan runs
        # (hashlib releases the GIL).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            digest = pool.submit(sha256_file, sources[0])
            if rebase is not None:
                curated_records = [_rebased(rebase, c, main_root) for c in curated_records]
            counts = _fast_mix(sources[0], out, cfg, root, curated_records, rebase)
            digests[str(sources[0])] = digest.result()
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
        if rebase is not None:
            bases = {"main": main_root, "refusal": refusal_root}
            mixed = [_rebased(rebase, c, bases[it.pool]) for c, it in zip(mixed, plan, strict=True)]
            curated_records = [_rebased(rebase, c, main_root) for c in curated_records]
        write_records([*mixed, *curated_records], out, out_format,
                      image_root=rebase.target if rebase is not None else main_root)  # (trl: absolute paths)
        counts = _counts(plan, len(main), len(curated_records), templates)

    inputs = [*sources, *([Path(refusal_source)] if refusal_source else []), *([Path(curated)] if curated else []),
              *([Path(refusal_bank_path)] if refusal_bank_path else [])]
    params = cfg.model_dump(mode="json")
    params.update(format=fmt, out_format=out_format, image_root=str(root) if root else None, **curated_info)
    if out_image_root is not None:
        params["out_image_root"] = str(out_image_root)
    if curated:
        counts["curated_renamed_ids"] = sum(1 for w in warnings if "renamed" in w)
    write_manifest(out, "mix", inputs=inputs, params=params, counts=dict(counts), seed=cfg.seed, digests=digests)
    counts.warnings = warnings
    return counts


def _rebased(rebase: Rebase, conv: Conversation, base: Path) -> Conversation:
    try:
        return rebase.conv(conv, base)
    except ValueError as exc:
        raise UnmaskError(f"mix: record {conv.id!r}: {exc}") from None


def pick_curated_or_fail(curated: str | Path | None, cfg: MixConfig, root: Path,
                         images: str | Path | None = None, check_images: bool = False,
                         layout: str = "auto") -> tuple[list[Conversation], dict, list[str]]:
    """The curated records to append (all, or ``curated_count`` drawn by seed), their image paths made
    relative to ``root``; -> (records, manifest params, warnings)."""
    if curated is None:
        if cfg.curated_count is not None:
            raise UnmaskError("mix: --curated-count needs --curated VLGUARD_TRAIN_JSON")
        if images is not None:
            raise UnmaskError("mix: --curated-images needs --curated VLGUARD_TRAIN_JSON")
        return [], {}, []
    curated = Path(curated)
    records, layout, warnings = curated_records(curated, layout)
    prefix = ""
    if images is not None:
        rel = os.path.relpath(os.path.realpath(images), os.path.realpath(root))
        if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
            raise UnmaskError(f"{images}: --curated-images must lie under the image root {str(root)!r}")
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
    try:
        picked = pick_curated(records, cfg)
    except ValueError as exc:
        raise UnmaskError(f"{curated}: {exc}") from None
    if prefix:
        picked = [c.model_copy(update={"images": [i if is_synthetic(i) else prefix + i for i in c.images]})
                  for c in picked]
    for conv in picked:
        for img in conv.images:
            if is_synthetic(img):
                continue
            try:
                real = resolve_image(img, root)
                if check_images:
                    check_image_file(real, img)
            except ValueError as exc:
                raise UnmaskError(f"{curated}: curated record {conv.id!r}: {exc}") from None
    info = {"curated_layout": layout, "curated_images": str(images) if images is not None else None}
    return picked, info, warnings
