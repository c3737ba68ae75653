"""The mix's fast path (the vectorised scanner) and the slow path (``unmask.data.formats``) ask the one row
check (``unmask.data.rows.llava_row``) and the one image-root rule: on every file they accept the same
records and name the same first fault in the same words."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import orjson
import pytest

from unmask.data.formats import iter_records
from unmask.data.paths import PathChecker
from unmask.errors import UnmaskError
from unmask.mix.fastscan.scan import scan_llava


def _good(i: int) -> dict:
    return {"id": f"r{i}", "image": f"imgs/{i}.jpg",
            "conversations": [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A cat."}]}


def _raw(text: str):
    """A record written as raw JSON text (for spellings orjson would not produce)."""
    return ("raw", text)


_BASE = '"conversations": [{"from": "human", "value": "<image>\\nhi"}, {"from": "gpt", "value": "ok"}]'
# one fault (or a lookalike that is no fault) per entry
VARIANTS = [
    {"id": 5, "image": "a.jpg", "conversations": _good(0)["conversations"]},  # int id: fine
    {"id": True, "conversations": _good(0)["conversations"][1:]},
    {"id": None, "conversations": _good(0)["conversations"][1:]},
    {"id": [1], "conversations": _good(0)["conversations"][1:]},
    {"id": "x", "metadata": "m", "conversations": _good(0)["conversations"][1:]},
    {"id": "x", "metadata": None, "conversations": _good(0)["conversations"][1:]},  # null metadata: fine
    {"id": "x", "metadata": [], "conversations": _good(0)["conversations"][1:]},  # falsy: fine
    {"id": "x", "metadata": [1], "conversations": _good(0)["conversations"][1:]},
    {"id": "x", "metadata": {"a": 1}, "conversations": _good(0)["conversations"][1:]},
    {"id": "x", "source": 3, "conversations": _good(0)["conversations"][1:]},
    {"id": "x", "source": "", "conversations": _good(0)["conversations"][1:]},
    {"id": "x", "image": 3, "conversations": _good(0)["conversations"]},
    {"id": "x", "image": None, "conversations": _good(0)["conversations"][1:]},  # null image, no marker: fine
    {"id": "x", "image": None, "conversations": _good(0)["conversations"]},  # a marker, no image
    {"id": "x", "image": ["a.jpg", "b.jpg"], "conversations": _good(0)["conversations"]},
    {"id": "x", "image": ["a.jpg", 2], "conversations": _good(0)["conversations"]},
    {"id": "x", "image": "a.jpg", "conversations": _good(0)["conversations"][1:]},  # no marker: fine
    {"id": "x", "conversations": _good(0)["conversations"]},  # a marker, no image
    {"id": "x", "image": "a.jpg", "conversations": [{"from": "human", "value": "<image><image>"},
                                                     {"from": "gpt", "value": "ok"}]},
    {"id": "x", "image": "a.jpg", "note": "<image><image>", "conversations": _good(0)["conversations"]},  # fine
    {"id": "x", "image": "../out.jpg", "conversations": _good(0)["conversations"]},
    {"id": "x", "image": "/etc/passwd", "conversations": _good(0)["conversations"]},
    {"id": "x", "image": "imgs/../../out.jpg", "conversations": _good(0)["conversations"]},
    {"id": "x", "image": "link/a.jpg", "conversations": _good(0)["conversations"]},  # a symlinked folder out
    {"id": "x", "image": "imgs/out.jpg", "conversations": _good(0)["conversations"]},  # a symlinked file out
    {"id": "x", "image": "unmask://blank?size=8", "conversations": _good(0)["conversations"]},
    {"id": "x", "image": "a.jpg", "conversations": _good(0)["conversations"]},
    {"id": "x", "image": "..", "conversations": _good(0)["conversations"]},  # after "a.jpg": the same folder
    {"id": "x", "image": "imgs/..", "conversations": _good(0)["conversations"]},  # the root itself: fine
    {"id": "x", "conversations": [{"from": "human", "value": "hi"}]},
    {"id": "x", "conversations": [{"from": ["gpt"], "value": "hi"}]},
    {"id": "x", "conversations": [{"from": "gpt", "value": 1}]},
    {"conversations": [{"from": "gpt", "value": "ok"}]},  # no id: fine
    _raw('{"id": "x", "im\\u0061ge": "../out.jpg", ' + _BASE + '}'),  # an escaped key name
    _raw('{"id": "x", "image": "..\\/out.jpg", ' + _BASE + '}'),  # an escaped path
    _raw('{"id": "x", "image": "a.jpg", "image": 7, ' + _BASE + '}'),  # a repeated key: the last wins
    _raw('{"id": "x", "image": 7, "image": "a.jpg", ' + _BASE + '}'),
    _raw('{"id": "x", "\\u0069d": [], ' + _BASE + '}'),
    _raw('{"id": "x", "metad\\u0061ta": 4, ' + _BASE + '}'),
    _raw('{"id": "x", "image": "a.jpg", "conversations": [{"from": "human", "value": "\\u003cimage> <image>"},'
         ' {"from": "gpt", "value": "ok"}]}'),
    _raw('{"id": "x", "conversations": [{"from": "human", "value": "<im\\u0061ge>"}, {"from": "gpt", "value": "ok"}]}'),
    _raw('{"id": "x", "conversations": [{"from": "human", "value": "caf\\u00e9 \\u00E9"}, {"from": "gpt", "value": "ok"}]}'),
]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "imgs").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "link")
    os.symlink(tmp_path / "outside" / "x.jpg", root / "imgs" / "out.jpg")
    return root


def _dump(records: list, path: Path, indent: bool) -> None:
    parts = [r[1] if isinstance(r, tuple) else orjson.dumps(r, option=orjson.OPT_INDENT_2 if indent else 0).decode()
             for r in records]
    path.write_text("[\n" + ",\n".join(parts) + "\n]\n")


def _outcome(fn, *args) -> str:
    try:
        return f"ok {fn(*args)}"
    except UnmaskError as exc:
        return str(exc)


def _fast(path: Path, root: Path, window: int) -> object:
    with scan_llava(path, window=window, check_path=PathChecker(root)) as res:
        return res.assistant_turns.tolist()


def _slow(path: Path, root: Path) -> object:
    return [len(c.assistant_indices()) for c in iter_records(path, image_root=root)]


@pytest.mark.parametrize("variant", range(len(VARIANTS)))
@pytest.mark.parametrize("where_", [0, 2])
def test_each_variant_same_verdict(root, variant, where_):
    records = [_good(i) for i in range(4)]
    records.insert(where_, VARIANTS[variant])
    src = root / "mix.json"
    for indent, window in itertools.product((False, True), (64, 1 << 20)):
        _dump(records, src, indent)
        fast, slow = _outcome(_fast, src, root, window), _outcome(_slow, src, root)
        assert fast == slow, (indent, window)


def test_random_files_same_first_fault(root):
    """Files of several variants: both paths stop at the same (first) faulty record, with the same words."""
    rng = random.Random(7)
    src = root / "mix.json"
    faults = 0
    for _ in range(60):
        records = [_good(i) for i in range(rng.randint(0, 6))]
        for _ in range(rng.randint(1, 3)):
            records.insert(rng.randint(0, len(records)), rng.choice(VARIANTS))
        _dump(records, src, rng.random() < 0.5)
        fast = _outcome(_fast, src, root, rng.choice((64, 256, 1 << 20)))
        assert fast == _outcome(_slow, src, root)
        faults += not fast.startswith("ok")
    assert 0 < faults < 60
