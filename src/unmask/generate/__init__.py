"""Run a model over a benchmark folder: batched, resumable, shardable.

``generate(GenerateConfig(...)) -> Path`` reads ``BENCH/samples.jsonl`` (:class:`~unmask.data.records.Sample`),
asks a backend (``hf`` default, ``openai``, ``vllm``, or a plugin's: :mod:`.backend`) for answers ``batch_size`` at a time and appends each
as a :class:`~unmask.data.records.Generation` to a journal keyed by sha256 of (sample, settings, model
fingerprint). Killed and started again it skips what is done: nothing lost, nothing doubled. The output
JSONL is written atomically, in benchmark order, when every sample has its answer; a manifest goes beside
it. ``--shard i/n`` takes the i-th contiguous slice; :func:`merge_shards` joins the shard outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..console import ticker
from ..data.images import open_image
from ..data.records import Generation, Sample
from ..data.store import (
    Journal,
    content_key,
    read_jsonl,
    read_manifest,
    sha256_file,
    write_jsonl,
    write_manifest,
)
from ..errors import UnmaskError
from .backend import BACKENDS, Backend, backend, make_backend
from .config import GenerateConfig, parse_shard, read_bench, shard_slice

__all__ = ["BACKENDS", "Backend", "GenerateConfig", "backend", "generate", "make_backend", "merge_shards", "read_bench"]


def _check_images(samples: list[Sample], bench: Path) -> None:
    # Decode every image before the model loads or a journal starts: a bad file is one line, up front.
    for s in samples:
        if s.image:
            try:
                open_image(s.image, bench)
            except UnmaskError as exc:
                raise UnmaskError(f"{bench / 'samples.jsonl'}: sample {s.id!r}: {exc}") from None


def _selected(cfg: GenerateConfig) -> tuple[list[Sample], int]:
    samples = read_bench(cfg.bench)
    total = len(samples)
    samples = samples[shard_slice(total, parse_shard(cfg.shard))]
    if cfg.limit is not None:
        samples = samples[: cfg.limit]
    return samples, total


def _reuse_finished(
    out: Path,
    bench: Path,
    journal: Journal,
    samples: list[Sample],
    keys: list[str],
    fingerprint: str,
    settings: dict[str, Any],
) -> None:
    """A finished output of the same model and settings counts as done: a rerun regenerates nothing."""
    if not out.is_file():
        return
    try:
        meta = read_manifest(out)
    except UnmaskError:
        return
    if meta.get("model_fingerprint") != fingerprint or meta.get("settings") != settings:
        return
    inputs = meta.get("inputs") or [{}]
    if inputs[0].get("sha256") != sha256_file(bench / "samples.jsonl"):  # same ids may hold new prompts
        return
    by_id = {s.id: (k, s) for k, s in zip(keys, samples, strict=True)}
    for row in read_jsonl(out):
        hit = by_id.get(row.get("id"))
        if hit is not None and row.get("settings") == settings:
            journal.add(hit[0], row)


def generate(cfg: GenerateConfig) -> Path:
    """Answer every selected sample of ``cfg.bench``; returns the output path."""
    from tqdm.auto import tqdm

    out = Path(cfg.out)
    bench = Path(cfg.bench)
    samples, total = _selected(cfg)
    _check_images(samples, bench)
    backend = make_backend(cfg)
    defended = None
    if cfg.defences:
        from .defences import DefenceRunner

        defended = DefenceRunner(backend, cfg.defences, bench, cfg.defence_text, cfg.ocr_engine)
    settings = cfg.settings()
    keys = [
        content_key({"sample": s.model_dump(mode="json"), "settings": settings, "model": backend.fingerprint})
        for s in samples
    ]
    journal = Journal(out)
    _reuse_finished(out, bench, journal, samples, keys, backend.fingerprint, settings)
    todo = [(k, s) for k, s in zip(keys, samples, strict=True) if not journal.done(k)]
    resumed = len(samples) - len(todo)
    bar = tqdm(
        total=len(samples),
        initial=resumed,
        desc=f"generate ({backend.name})",
        unit="sample",
        dynamic_ncols=True,
        disable=not (cfg.progress and sys.stderr.isatty()),
    )
    # No tqdm bar: plain progress lines when stderr is a file (tqdm would write \r), and inside `unmask run` /
    # `demo` (progress off in the stage settings) the stage's own line.
    tick = (ticker("generate batch", -(-len(todo) // cfg.batch_size), always=cfg.progress) if bar.disable
            else ticker("", 0))
    try:
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start : start + cfg.batch_size]
            batch = [s for _, s in chunk]
            # A defence returns (answer, row fields: which defence ran, its cost); see generate.defences.
            responses = (defended.generate(batch) if defended is not None
                         else [(a, {}) for a in backend.generate(batch)])
            tick.advance(1)
            for (key, s), (answer, fields) in zip(chunk, responses, strict=True):
                # A backend returns text, or a reply with the server's finish reason ("length": cut off).
                text = answer if isinstance(answer, str) else answer.content
                extra = {} if isinstance(answer, str) else {"finish_reason": answer.finish_reason}
                journal.add(
                    key,
                    Generation(
                        id=s.id,
                        response=text,
                        model=cfg.model,
                        adapter=cfg.adapter,
                        settings=settings,
                        category=s.category,
                        attack=s.attack,
                        harmful=s.harmful,
                        model_fingerprint=backend.fingerprint,
                        **extra,
                        **fields,
                    ),
                )
            bar.update(len(chunk))
    finally:
        bar.close()
        tick.close()
        journal.close()
        backend.close()
    n = journal.finalize(keys)
    cut_off = sum(1 for k in keys if (journal.get(k) or {}).get("finish_reason") == "length")
    params = {
        **settings,
        "model": cfg.model,
        "adapter": cfg.adapter,
        "family": cfg.family,
        "shard": cfg.shard,
        "limit": cfg.limit,
        "batch_size": cfg.batch_size,
    }
    write_manifest(
        out,
        "generate",
        inputs=[bench / "samples.jsonl"],
        params=params,
        counts={"samples": n, "benchmark_samples": total, "resumed": resumed,
                **({"cut_off": cut_off} if cut_off else {})},
        seed=cfg.seed if cfg.do_sample else None,
        extra={"model_fingerprint": backend.fingerprint, "settings": settings,
               **(backend.notes() if hasattr(backend, "notes") else {}),
               **(defended.notes() if defended is not None else {})},
    )
    return out


def merge_shards(parts: list[str | Path], out: str | Path) -> Path:
    """Join the outputs of ``--shard 0/n`` .. ``n-1/n`` (same benchmark and settings) in benchmark order."""
    if not parts:
        raise UnmaskError("merge-shards: no shard files given")
    metas = []
    for p in parts:
        m = read_manifest(p)
        if m.get("stage") != "generate":
            raise UnmaskError(f"{p}: not a generate output (its manifest says {m.get('stage')!r})")
        shard = parse_shard(m["params"].get("shard")) or (0, 1)
        metas.append((shard, Path(p), m))
    metas.sort(key=lambda t: t[0][0])
    n = metas[0][0][1]
    first = metas[0][2]
    for (i, k), p, m in metas:
        if k != n:
            raise UnmaskError(f"{p}: shard {i}/{k} does not belong to a split into {n}")
        if m["inputs"] != first["inputs"]:
            raise UnmaskError(f"{p}: generated from a different benchmark than {metas[0][1]}")
        if m.get("settings") != first.get("settings") or m.get("model_fingerprint") != first.get(
            "model_fingerprint"
        ):
            raise UnmaskError(f"{p}: different model or generation settings than {metas[0][1]}")
        if m["params"].get("limit") is not None:
            raise UnmaskError(f"{p}: made with --limit; a merge would be incomplete")
    have = [t[0][0] for t in metas]
    if have != list(range(n)):
        missing = sorted(set(range(n)) - set(have))
        dup = sorted({i for i in have if have.count(i) > 1})
        raise UnmaskError(
            f"merge-shards: need shards 0..{n - 1} once each"
            + (f"; missing {missing}" if missing else "")
            + (f"; repeated {dup}" if dup else "")
        )
    rows: list[dict[str, Any]] = []
    for _, p, _m in metas:
        rows.extend(read_jsonl(p))
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise UnmaskError("merge-shards: the shards overlap (an id appears twice)")
    out = Path(out)
    write_jsonl(out, rows)
    params = {k: v for k, v in first["params"].items() if k != "shard"}
    write_manifest(
        out,
        "generate",
        inputs=[p for _, p, _ in metas],
        params={**params, "merged_from": n},
        counts={"samples": len(rows), "benchmark_samples": first["counts"].get("benchmark_samples")},
        extra={"model_fingerprint": first.get("model_fingerprint"), "settings": first.get("settings")},
    )
    return out
