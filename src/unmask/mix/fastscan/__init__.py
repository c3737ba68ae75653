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

Measured with ``python benchmarks/bench_mix.py --records 300000`` (the file made by
``benchmarks/make_llava.py``, 360 MiB; unmask mix vs ``json.load`` / ``random.sample`` / ``json.dump``, each
in its own process; the shared 2-core box under load, two runs each): 2.7-2.8x less CPU than the plain way
(2.1-2.8x wall) at 0.13x its peak memory (152 vs 1183 MiB). Before the one row check the same runs gave
2.8-3.1x CPU: checking every record as the slow path does (ids, metadata, images, markers, every image
path) costs about 15-25% more CPU in the fast path (3.4-3.9 -> 4.5 CPU s at 300k records).
"""
