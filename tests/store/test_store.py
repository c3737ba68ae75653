"""The store: atomic outputs, a journal that survives kill -9, manifests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import orjson
import pytest

from unmask.data.store import Journal, atomic_path, content_key, read_manifest, sha256_file, write_manifest
from unmask.errors import UnmaskError


def test_content_key_ignores_key_order():
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_journal_resumes_and_never_doubles(tmp_path):
    out = tmp_path / "gen.jsonl"
    keys = [f"k{i}" for i in range(5)]
    with Journal(out) as j:
        for k in keys[:3]:
            j.add(k, {"id": k})
    # a torn last line, as left by kill -9 mid-write
    with open(out.with_name(out.name + ".journal.jsonl"), "ab") as fh:
        fh.write(b'{"key": "k3", "row": {"id"')
    j = Journal(out)
    assert len(j) == 3 and j.done("k2") and not j.done("k3")
    for k in keys:
        j.add(k, {"id": k})
        j.add(k, {"id": "dup"})
    assert j.finalize(keys) == 5
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["id"] for r in rows] == keys
    assert not out.with_name(out.name + ".journal.jsonl").exists()


def test_finalize_refuses_missing_items(tmp_path):
    j = Journal(tmp_path / "o.jsonl")
    j.add("a", {"x": 1})
    with pytest.raises(UnmaskError, match="1 item"):
        j.finalize(["a", "b"])
    assert not (tmp_path / "o.jsonl").exists()


_WRITER = textwrap.dedent("""
    import sys, time
    from unmask.data.store import Journal
    out, n = sys.argv[1], int(sys.argv[2])
    j = Journal(out, fsync_every=1)
    for i in range(n):
        k = f"k{i:04d}"
        if not j.done(k):
            j.add(k, {"id": k, "payload": "x" * 200})
            time.sleep(0.002)
    j.finalize([f"k{i:04d}" for i in range(n)])
""")


def test_kill_9_then_resume(tmp_path):
    """A writer killed with SIGKILL at a random moment resumes: every item once, in order."""
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    out = tmp_path / "out.jsonl"
    n = 1500  # >= 2 ms an item: no writer can finish before its kill, however fast the machine
    for delay in (0.4, 0.7):
        proc = subprocess.Popen([sys.executable, str(script), str(out), str(n)])
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not out.exists()
    journal = out.with_name(out.name + ".journal.jsonl")
    assert journal.exists()
    subprocess.run([sys.executable, str(script), str(out), str(n)], check=True)
    ids = [orjson.loads(x)["id"] for x in out.read_bytes().splitlines()]
    assert ids == [f"k{i:04d}" for i in range(n)]


def test_manifest_records_inputs_and_params(tmp_path):
    src = tmp_path / "in.json"
    src.write_text("[]")
    out = tmp_path / "out.json"
    out.write_text("[]")
    write_manifest(out, "mix", inputs=[src], params={"fraction": 0.1}, counts={"n": 0}, seed=3)
    m = read_manifest(out)
    assert m["inputs"][0]["sha256"] == sha256_file(src)
    assert m["params"] == {"fraction": 0.1} and m["seed"] == 3 and m["tool"] == "unmask"


def test_orphaned_temporaries_of_dead_writers_are_removed(tmp_path):
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".out.json.tmp-{proc.stdout.strip()}"
    dead.write_text("half of a killed write")
    alive = tmp_path / f".out.json.tmp-{os.getppid()}"  # a live process: maybe still writing
    alive.write_text("in progress")
    with atomic_path(out) as tmp:
        tmp.write_text("done")
    assert out.read_text() == "done" and not dead.exists() and alive.exists()
