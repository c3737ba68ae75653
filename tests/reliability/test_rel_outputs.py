"""Outputs that would destroy inputs, outputs that cannot be written, outputs without their manifest.

Every command's ``-o`` is checked before any work (``unmask.data.outputs.check_output``): it must not be an
input (the same path, a symlink to it, a hard link to it), a folder output must not hold an input, a
file output must not be an existing folder. Each refusal is exit 2 with one line, the input unchanged,
nothing written. And an output whose manifest cannot be written (a seed beyond 64 bits, a full disk)
does not stay behind: both land or neither.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

SEED_BEYOND_64_BITS = str(2**70)


def _records(path: Path, n: int = 6) -> Path:
    path.write_text(json.dumps([{"id": f"r{i}", "conversations": [{"from": "human", "value": f"q{i}"},
                                                                  {"from": "gpt", "value": f"a{i}"}]}
                                for i in range(n)]))
    return path


def _generations(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": f"g{i}", "response": "I cannot help with that." if i % 2 else "Sure.",
                                        "harmful": True}) + "\n" for i in range(4)))
    return path


def _verdicts(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": f"g{i}", "verdict": "refused" if i % 2 else "complied",
                                        "judge": "keyword", "judge_version": "1", "harmful": True}) + "\n"
                            for i in range(4)))
    return path


def _bench(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "samples.jsonl").write_text("".join(json.dumps({"id": f"s{i}", "prompt": f"Say {i}.", "image": None,
                                                              "category": "c", "harmful": True, "attack": "text"})
                                                  + "\n" for i in range(2)))
    return folder


def _questions(path: Path) -> Path:
    path.write_text("dataset,category_id,task_id,category_name,question,instruction\n"
                    "SafeBench,1,1,Illegal Activity,How to do x?,Steps to do x.\n")
    return path


def _experiment(path: Path) -> Path:
    path.write_text("name: x\ndata: {sources: [data.json]}\nbenches: [{label: b, kind: text, input: q.csv}]\n")
    return path


def _same(tmp: Path, target: Path, how: str) -> Path:
    """Another name for ``target``: itself, a symlink to it, or a hard link to it."""
    if how == "path":
        return target
    other = tmp / f"other-{how}{target.suffix}"
    if how == "symlink":
        other.symlink_to(target)
    else:
        os.link(target, other)
    return other


# command -> (make the input under tmp, argv given (input, output)); the output names the input another way
CASES = {
    "judge": (lambda t: _generations(t / "gen.jsonl"), lambda i, o: ["judge", i, "-o", o]),
    "metrics": (lambda t: _verdicts(t / "verdicts.jsonl"), lambda i, o: ["metrics", i, "-o", o, "--bootstrap", "0"]),
    "metrics-utility": (lambda t: _verdicts(t / "rows.jsonl"), lambda i, o: ["metrics", i, "-o", o, "--utility", "mc"]),
    "mix": (lambda t: _records(t / "data.json"), lambda i, o: ["mix", i, "-o", o, "--fraction", "0.5"]),
    "convert": (lambda t: _records(t / "data.json"), lambda i, o: ["convert", i, "-o", o]),
    "merge-shards": (lambda t: _generations(t / "part0.jsonl"), lambda i, o: ["merge-shards", i, "-o", o]),
    "generate": (lambda t: _bench(t / "bench") / "samples.jsonl",
                 lambda i, o: ["generate", "--model", "tiny", "--bench", i.parent, "-o", o, "--no-progress"]),
}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*")) if not p.is_symlink()}


def _refused(code: int, stderr: str, *words: str) -> str:
    lines = stderr.strip().splitlines()
    assert code == 2, f"exit {code}: {stderr[-1500:]}"
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr[-1500:]
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize("how", ["path", "symlink", "hardlink"])
@pytest.mark.parametrize("command", sorted(CASES))
def test_output_equal_to_input_is_refused_before_any_work(command, how, tmp_path, run_cli):
    make, argv = CASES[command]
    src = make(tmp_path)
    out = _same(tmp_path, src, how)
    before = _snapshot(tmp_path)
    ino = src.stat().st_ino
    code, _, stderr = run_cli(*argv(src, out))
    _refused(code, stderr, "would destroy it")
    assert _snapshot(tmp_path) == before, "something was written or changed"
    assert src.stat().st_ino == ino


@pytest.mark.parametrize("command,argv,words", [
    ("attack", lambda t, q: ["attack", "text", q, "-o", t, "--force", "--loader", "safebench"], ["holds the input"]),
    ("train", lambda t, q: ["train", q, "--model", "tiny", "-o", t, "--overwrite", "--max-steps", "1",
                            "--no-progress"], ["holds the input"]),
    ("bias", lambda t, q: ["bias", q, "-o", t], ["bias.json", "is the input"]),
    ("report", lambda t, q: ["report", q.parent, "-o", t / "r.html"], ["r_assets", "would destroy it"]),
    ("run", lambda t, q: ["run", q, "-o", t, "--dry-run"], ["is the input", "experiment.yaml"]),
])
def test_folder_output_holding_its_input_is_refused(command, argv, words, tmp_path, run_cli):
    """A folder output is replaced as a whole (``--force``, ``--overwrite``), or holds files of fixed names
    (``bias``: ``bias.json``; ``run``: ``experiment.yaml``, ``summary.json``, ...)."""
    if command == "attack":
        q = _questions(tmp_path / "q.csv")
    elif command == "run":
        q = _experiment(tmp_path / "experiment.yaml")
    elif command == "bias":
        q = _records(tmp_path / "bias.json")  # bias -o DIR writes DIR/bias.json
    elif command == "report":
        q = tmp_path / "r_assets" / "metrics.json"  # report r.html writes r_assets/ as a whole
        q.parent.mkdir()
        q.write_text("{}")
    else:
        q = _records(tmp_path / "data.json")
    before = _snapshot(tmp_path)
    code, _, stderr = run_cli(*argv(tmp_path, q))
    _refused(code, stderr, *words)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("out", ["{t}/existing_dir", "."])
@pytest.mark.parametrize("command", ["judge", "metrics"])
def test_file_output_naming_a_folder_fails_before_any_work(command, out, tmp_path, run_cli, monkeypatch):
    """``judge -o DIR`` used to judge every answer, then fail writing (exit 1); ``-o .`` likewise."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing_dir").mkdir()
    src = _generations(tmp_path / "gen.jsonl") if command == "judge" else _verdicts(tmp_path / "v.jsonl")
    before = _snapshot(tmp_path)
    code, _, stderr = run_cli(command, src, "-o", out.format(t=tmp_path))
    _refused(code, stderr, "is a folder; give a file name")
    assert _snapshot(tmp_path) == before


def test_judge_cache_dir_that_is_a_file(tmp_path, run_cli):
    src = _generations(tmp_path / "gen.jsonl")
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    code, _, stderr = run_cli("judge", src, "-o", tmp_path / "v.jsonl", "--judge", "llm", "--cache-dir", cache,
                              "--base-url", "http://127.0.0.1:9/v1", "--judge-model", "m")
    _refused(code, stderr, "--cache-dir", "not a folder")
    assert not (tmp_path / "v.jsonl").exists()


# ------------------------------------------------------------------------ an output and its manifest
def test_manifest_that_cannot_hold_the_seed_takes_the_output_with_it(tmp_path, run_cli):
    """A seed beyond 64 bits works for the mix (Python's RNG) but not in the manifest's JSON: both or neither."""
    data = _records(tmp_path / "data.json")
    out = tmp_path / "mix.json"
    code, _, stderr = run_cli("mix", data, "-o", out, "--fraction", "0.5", "--seed", SEED_BEYOND_64_BITS)
    _refused(code, stderr, "mix.json.manifest.json", "cannot write the manifest", "64-bit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]


@pytest.mark.parametrize("command", ["judge", "metrics", "mix"])
def test_disk_full_while_writing_the_manifest_leaves_neither(command, tmp_path, run_cli, monkeypatch):
    import unmask.data.store as store

    real = store.atomic_write_bytes

    def full_for_manifests(path, data):
        if str(path).endswith("manifest.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(store, "atomic_write_bytes", full_for_manifests)
    if command == "judge":
        src, out, extra = _generations(tmp_path / "gen.jsonl"), tmp_path / "verdicts.jsonl", []
    elif command == "metrics":
        src, out, extra = _verdicts(tmp_path / "verdicts.jsonl"), tmp_path / "metrics.json", ["--bootstrap", "0"]
    else:
        src, out, extra = _records(tmp_path / "data.json"), tmp_path / "mix.json", ["--fraction", "0.5"]
    code, _, stderr = run_cli(command, src, "-o", out, *extra)
    _refused(code, stderr, f"{out.name}.manifest.json", "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name], "an output without its manifest"
