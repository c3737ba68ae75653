"""The mix's fast path: ``unmask mix`` on one LLaVA JSON list in, LLaVA JSON out, without parsing it.

Why it exists: LLaVA-665k is one 836 MB JSON list. The plain way (load it, sample, replace the replies,
dump it) holds every record as Python objects; the fast path memory-maps the file, finds every record's
byte span with numpy (:mod:`.scan`, window by window: :mod:`.window`, :mod:`.gaps`, :mod:`.chars`),
copies the untouched records byte for byte (``copy_file_range``) and parses only the ones it turns into
refusals. The issue that asked for it measured 1.8x the speed of a plain orjson load / sample / dump at 665k
records with 0.05x its peak memory.

It checks what the slow path (``unmask.data.formats``) checks, with the same words: its vectorised pass
(:mod:`.llava`) only *suspects* records (odd key spellings, escapes, repeated keys, ``<image>`` markers that
do not match the image); every verdict about a row comes from the one row check,
:func:`unmask.data.rows.llava_row`, and every image path goes through
:class:`unmask.data.paths.PathChecker` (the image-root rule), in record order, so both paths stop at the
same first faulty record (``tests/data/test_mix_paths_agree.py``).

Measured (``python benchmarks/bench_mix.py --records 300000``: unmask mix vs ``json.load`` /
``random.sample`` / ``json.dump`` in one run, the shared 2-core box under load): see the figures in
the README's Benchmarks table; with the one row check and every image path checked the fast path
costs about 0.15-0.2 CPU s more per 100k records than before (the scanner alone: 0.4 -> 0.6 s).
"""
