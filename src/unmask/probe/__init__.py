"""``unmask probe``: a linear harm direction fitted on text requests, read in the typography route.

See :mod:`unmask.probe.run` for what is measured, :mod:`unmask.probe.linear` for the fitters and the
AUROC with cluster-bootstrap intervals, :mod:`unmask.probe.sources` for the requests.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import UnmaskError

__all__ = ["run_probe"]


def run_probe(out: str | Path, *, model: str = "tiny", adapters: list[tuple[str, str]] | None = None,
              request_set: str | None = None, set_seed: int = 0, text_bench: str | Path | None = None,
              typo_bench: str | Path | None = None, family: str | None = None, processor: str | None = None,
              dtype: str = "float32", device: str | None = None, trust_remote_code: bool = False,
              method: str = "diffmean", folds: int = 5, batch_size: int = 16, refusal_token: str = "I",
              system: str | None = None, n_boot: int = 1000, seed: int = 0, log: Any = None) -> dict[str, Any]:
    """Probe the base ``model`` and each ``(label, adapter folder)``; write ``OUT/probe.json``,
    ``OUT/probe_auroc.png`` and ``OUT/manifest.json`` (the folder appears complete or not at all)."""
    import orjson

    from ..data.store import atomic_path, write_manifest
    from ..models.loading import load_model
    from .linear import FITTERS
    from .run import INTERVALS, plot_auroc, summarise_model
    from .sources import PROBE_SETS, bench_builder, bench_requests
    from .states import collect_states, refusal_token_id

    if method not in FITTERS:
        raise UnmaskError(f"--method must be one of {', '.join(FITTERS)}, not {method!r}")
    if (request_set is not None) == (text_bench is not None or typo_bench is not None):
        raise UnmaskError("give either --set NAME or both --text and --typo benchmark folders")
    if request_set is None and (text_bench is None or typo_bench is None):
        raise UnmaskError("--text and --typo go together: the text twin and the typographic benchmark")
    pset = None if request_set is None else PROBE_SETS.get(request_set)
    if pset is not None:
        text_reqs, typo_reqs = pset.requests(set_seed)
    else:
        text_reqs, typo_reqs = bench_requests(text_bench, False), bench_requests(typo_bench, True)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    doc: dict[str, Any] = {"format_version": 1, "method": method, "folds": folds, "refusal_token": refusal_token,
                           "source": f"{request_set} seed {set_seed}" if pset else {"text": str(text_bench),
                                                                                 "typo": str(typo_bench)},
                           "n": {"text": len(text_reqs), "typo": len(typo_reqs),
                                 "harmful": sum(r.harmful for r in text_reqs),
                                 "clusters": len({r.cluster for r in text_reqs})},
                           "models": {}}
    for label, adapter in [("base", None), *(adapters or [])]:
        if log:
            log(f"probe: {label} ...")
        loaded = load_model(model, family=family, processor=processor, adapter=adapter, dtype=dtype, device=device,
                            trust_remote_code=trust_remote_code)
        tok = loaded.tokenizer
        rid = refusal_token_id(tok, refusal_token)
        if pset is not None:
            build_text = build_typo = pset.builder(tok)
        else:
            build_text = bench_builder(loaded, text_bench, system)
            build_typo = bench_builder(loaded, typo_bench, system)
        st_text = collect_states(loaded.model, text_reqs, build_text, rid, batch_size)
        st_typo = collect_states(loaded.model, typo_reqs, build_typo, rid, batch_size)
        block = summarise_model(label, st_text, text_reqs, st_typo, typo_reqs, method, folds, n_boot, seed)
        doc["models"][label] = {"adapter": adapter, "fingerprint": loaded.fingerprint, **block}
        del loaded
    doc["interval_method"] = INTERVALS
    doc["bootstrap"] = {"n": n_boot, "seed": seed, "level": 0.95}
    doc["seconds"] = round(time.perf_counter() - t0, 2)
    out = Path(out)
    inputs = [] if pset else [Path(text_bench) / "samples.jsonl", Path(typo_bench) / "samples.jsonl"]  # type: ignore[arg-type]
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        (tmp / "probe.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        plot_auroc(doc, tmp / "probe_auroc.png")
        write_manifest(tmp, "probe", inputs=inputs,
                       params={"model": model, "adapters": adapters or [], "set": request_set, "set_seed": set_seed,
                               "method": method, "folds": folds, "refusal_token": refusal_token, "dtype": dtype},
                       seed=seed)
    return doc
