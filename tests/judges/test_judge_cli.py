"""``unmask judge``: field carry-over, bad input, and resuming after kill -9 (a real subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from unmask.cli import main


def _write(path, rows):
    path.write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows))
    return path


def _read(path):
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _exit(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err


def test_keyword_cli_copies_fields_for_metrics(tmp_path):
    gen = _write(tmp_path / "gen.jsonl", [
        {"id": "a", "response": "I'm sorry, but I cannot assist with your request.", "category": "drugs",
         "attack": "figstep", "harmful": True, "model": "tiny", "settings": {"max_new_tokens": 8}, "other": 1},
        {"id": 7, "response": "Sure, step 1 ..."},  # another tool's output: only id + response
    ])
    out = tmp_path / "v.jsonl"
    main(["judge", str(gen), "--judge", "keyword", "-o", str(out)])
    a, b = _read(out)
    assert a["verdict"] == "refused" and b["verdict"] == "complied" and b["id"] == "7"
    assert {k: a[k] for k in ("category", "attack", "harmful", "model", "settings")} == {
        "category": "drugs", "attack": "figstep", "harmful": True, "model": "tiny", "settings": {"max_new_tokens": 8}}
    assert "other" not in a and "category" not in b
    assert a["judge"] == "keyword" and a["judge_version"]
    manifest = orjson.loads((tmp_path / "v.jsonl.manifest.json").read_bytes())
    assert manifest["stage"] == "judge" and manifest["counts"] == {"rows": 2, "refused": 1, "complied": 1, "unjudged": 0}
    assert not (tmp_path / "v.jsonl.journal.jsonl").exists()


@pytest.mark.parametrize("rows,msg", [
    ([{"id": "a", "response": "x"}, {"id": "b"}], "gen.jsonl: line 2 (id 'b'): missing field 'response'"),
    ([{"response": "x"}], "gen.jsonl: line 1: missing field 'id'"),
    ([{"id": "a", "response": None}], "gen.jsonl: line 1 (id 'a'): 'response' must be text"),
    ([{"id": "a", "response": "x"}, {"id": "a", "response": "y"}], "line 2 (id 'a'): duplicate id (first on line 1)"),
    ([b'{"id": "a", "respo'], "gen.jsonl: line 1: invalid JSON"),
    ([[1, 2]], "gen.jsonl: line 1: expected a JSON object"),
    ([{"id": "a", "response": "x", "harmful": "yes"}], "'harmful' must be true, false or null"),
])
def test_bad_generations_one_line_exit_2_no_output(tmp_path, capsys, rows, msg):
    gen = _write(tmp_path / "gen.jsonl", rows)
    out = tmp_path / "v.jsonl"
    code, err = _exit(["judge", str(gen), "-o", str(out)], capsys)
    assert code == 2
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_empty_file_and_prompt_needing_judge(tmp_path, capsys):
    empty = tmp_path / "gen.jsonl"
    empty.write_bytes(b"\n")
    code, err = _exit(["judge", str(empty), "-o", str(tmp_path / "v.jsonl")], capsys)
    assert code == 2 and "no generations" in err
    gen = _write(tmp_path / "g2.jsonl", [{"id": "a", "response": "x"}])
    code, err = _exit(["judge", str(gen), "--judge", "llm", "--base-url", "http://127.0.0.1:9/v1",
                       "--judge-model", "m", "--no-cache", "-o", str(tmp_path / "v.jsonl")], capsys)
    assert code == 2 and "g2.jsonl: line 1 (id 'a'): no 'prompt'" in err and "--samples" in err


def test_samples_supply_prompts(tmp_path, llm_server):
    url, state = llm_server
    gen = _write(tmp_path / "gen.jsonl", [{"id": "a", "response": "resp MODE=yes", "harmful": True}])
    samples = _write(tmp_path / "samples.jsonl", [{"id": "a", "prompt": "PLANTED REQUEST", "harmful": True}])
    out = tmp_path / "v.jsonl"
    main(["judge", str(gen), "--judge", "llm", "--base-url", url, "--judge-model", "m", "--samples", str(samples),
          "--cache-dir", str(tmp_path / "c"), "-o", str(out)])
    assert _read(out)[0]["verdict"] == "complied"
    assert "PLANTED REQUEST" in state.bodies[0]["messages"][-1]["content"]
    # without --samples, the benchmark named in the generations' manifest (as `unmask generate` writes it)
    (tmp_path / "gen.jsonl.manifest.json").write_bytes(orjson.dumps({"inputs": [{"path": str(samples)}]}))
    main(["judge", str(gen), "--judge", "llm", "--base-url", url, "--judge-model", "m", "--no-cache",
          "-o", str(tmp_path / "v2.jsonl")])
    assert "PLANTED REQUEST" in state.bodies[-1]["messages"][-1]["content"]


def test_kill_9_then_rerun_loses_and_doubles_nothing(tmp_path, llm_server):
    url, state = llm_server
    n = 40
    gen = _write(tmp_path / "gen.jsonl", [{"id": f"g{i:03d}", "response": f"answer {i} MODE=slow", "harmful": True}
                                          for i in range(n)])
    out = tmp_path / "v.jsonl"
    journal = tmp_path / "v.jsonl.journal.jsonl"
    cmd = [sys.executable, "-m", "unmask", "judge", str(gen), "--judge", "llm", "--base-url", url,
           "--judge-model", "m", "--template", "harmbench", "--concurrency", "2", "--no-cache", "-o", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd + ["--samples", str(_write(tmp_path / "s.jsonl", [
        {"id": f"g{i:03d}", "prompt": "p"} for i in range(n)]))], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed run must not leave a finished output"
    done_before = journal.read_bytes().count(b"\n")  # complete lines; a torn last line is redone
    assert 8 <= done_before < n, "the kill must land mid-run"
    asked_before = state.n
    res = subprocess.run(cmd + ["--samples", str(tmp_path / "s.jsonl")], env=env, capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    rows = _read(out)
    assert [r["id"] for r in rows] == [f"g{i:03d}" for i in range(n)], "every row once, in input order"
    assert all(r["verdict"] == "complied" for r in rows)
    assert state.n - asked_before == n - done_before, "the rerun asks only what the journal lacks"
    assert not journal.exists()
