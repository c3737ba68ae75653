"""``unmask generate`` killed with SIGKILL and started again: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from unmask.data.store import read_jsonl
from unmask.generate import GenerateConfig, generate


def test_kill_9_then_rerun_loses_and_doubles_nothing(tiny_ckpt, tmp_path, make_bench):
    bench = make_bench(tmp_path / "bench", n=40, image_every=3)
    out = tmp_path / "g.jsonl"
    journal = tmp_path / "g.jsonl.journal.jsonl"
    args = [
        "--model",
        str(tiny_ckpt("llava")),
        "--bench",
        str(bench),
        "-o",
        str(out),
        "--batch-size",
        "1",
        "--max-new-tokens",
        "6",
        "--min-new-tokens",
        "6",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "unmask", "generate", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.time() + 180
    while proc.poll() is None and time.time() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"finished or died before the kill: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    done_before = journal.read_bytes().count(b"\n")
    assert 3 <= done_before < 40

    cfg = dict(
        model=str(tiny_ckpt("llava")),
        bench=str(bench),
        batch_size=4,
        max_new_tokens=6,
        min_new_tokens=6,
        progress=False,
    )
    rows = read_jsonl(generate(GenerateConfig(out=str(out), **cfg)))
    manifest = json.loads((tmp_path / "g.jsonl.manifest.json").read_text())
    assert manifest["counts"]["resumed"] >= done_before  # the journal was used, not redone
    assert [r["id"] for r in rows] == [f"s{i}" for i in range(40)]
    assert not journal.exists()
    reference = read_jsonl(generate(GenerateConfig(out=str(tmp_path / "ref.jsonl"), **cfg)))
    assert rows == reference
