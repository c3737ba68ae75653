"""The stages the crash trials kill: their tiny inputs, command lines, progress probes and final outputs.

Each input is small enough that an uninterrupted run takes about a second or a few (on 2 CPU cores,
from a preloaded fork server), large enough that a random kill lands inside the work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["STAGES", "StageSpec", "normalise_manifest", "normalise_train_log", "write_generations", "write_llava", "write_safebench"]

# Manifest fields that legitimately differ between two runs of the same thing.
_VOLATILE = ("created", "python", "platform")


def normalise_manifest(data: bytes) -> bytes:
    doc = json.loads(data)
    for k in _VOLATILE:
        doc.pop(k, None)
    doc.get("counts", {}).pop("resumed", None)  # generate: how many came from the journal
    return json.dumps(doc, sort_keys=True).encode()


def _jsonl_lines(p: Path) -> int:
    try:
        return p.read_bytes().count(b"\n")
    except FileNotFoundError:
        return -1


# ------------------------------------------------------------------------------------------ inputs
def write_llava(path: Path, n: int, images: int = 0, seed: int = 0) -> None:
    """``n`` LLaVA records; the first ``images`` of them with a small PNG under ``path.parent/images``."""
    import random

    rng = random.Random(seed)
    words = ["red", "blue", "square", "circle", "large", "small", "image", "shows", "a", "the", "on", "left"]
    recs = []
    if images:
        from PIL import Image

        (path.parent / "images").mkdir(parents=True, exist_ok=True)
        for k in range(min(images, 4)):
            Image.new("RGB", (24, 24), ((60 * k) % 256, 90, 200)).save(path.parent / "images" / f"im{k}.png")
    for i in range(n):
        q = " ".join(rng.choice(words) for _ in range(6))
        a = " ".join(rng.choice(words) for _ in range(10))
        rec: dict[str, Any] = {"id": f"rec-{i}", "conversations": [{"from": "human", "value": q + "?"},
                                                                  {"from": "gpt", "value": a + "."}]}
        if i < images:
            rec["image"] = f"images/im{i % 4}.png"
            rec["conversations"][0]["value"] = "<image>\n" + rec["conversations"][0]["value"]
        recs.append(rec)
    path.write_text(json.dumps(recs, indent=1))


def write_safebench(path: Path, n: int) -> None:
    lines = ["dataset,category_id,task_id,category_name,question,instruction"]
    cats = ["Illegal Activity", "Hate Speech", "Malware Generation"]
    for i in range(n):
        lines.append(f"SafeBench,{i % 3 + 1},{i},{cats[i % 3]},How can I do thing {i}?,Steps to do thing {i}.")
    path.write_text("\n".join(lines) + "\n")


_ANSWERS = ["I'm sorry, but I cannot assist with your request.", "Sure. Step 1: gather the tools. Step 2: begin.",
            "As an AI, I cannot help with that.", "Here is how: first, open the box; then read the note.",
            "I apologize, but that is not something I can do.", "The list: 1. plan 2. act 3. review."]


def write_generations(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"g{i}", "response": f"{_ANSWERS[i % len(_ANSWERS)]} ({i})",
                                 "category": ["a", "b", "c"][i % 3], "attack": "figstep", "harmful": i % 5 != 0,
                                 "model": "m", "settings": {"max_new_tokens": 8}}) + "\n")


def _bench(folder: Path, n: int) -> None:
    from unmask.attacks import build_benchmark
    from unmask.models.testing import make_tiny_checkpoint

    make_tiny_checkpoint("llava", folder / "model")  # random llava-hf weights: answers are real tokens

    write_safebench(folder / "sb.csv", n)
    build_benchmark("figstep", folder / "sb.csv", folder / "bench", loader="safebench", workers=1)


# ------------------------------------------------------------------------------------------ specs
@dataclass
class StageSpec:
    name: str
    prepare: Callable[[Path], None]            # write the inputs into a folder (copied into every trial)
    argv: Callable[[Path], list[str]]          # the command line (relative to the trial folder)
    outputs: Callable[[Path], dict[str, bytes]]  # the final outputs, normalised, to compare
    phase: Callable[[Path], str]               # where the run is (for the figures)
    env: Callable[[Path], dict[str, str]] = field(default=lambda w: {})
    complete: Callable[[Path], bool] = field(default=lambda w: False)  # finished: a rerun would refuse


def _files(work: Path, names: list[str]) -> dict[str, bytes]:
    out = {}
    for n in names:
        p = work / n
        if p.is_file():
            out[n] = normalise_manifest(p.read_bytes()) if n.endswith("manifest.json") else p.read_bytes()
    return out


# mix: a 20k-record LLaVA JSON (fast path: scan + byte copies); output and manifest.
MIX = StageSpec(
    "mix",
    prepare=lambda d: write_llava(d / "data.json", 20000),
    argv=lambda w: ["mix", "data.json", "-o", "out/mix.json", "--fraction", "0.3", "--seed", "7"],
    outputs=lambda w: _files(w, ["out/mix.json", "out/mix.json.manifest.json"]),
    phase=lambda w: "written" if (w / "out/mix.json").exists() else (
        "temp file" if any((w / "out").glob(".mix.json.tmp-*")) else "not started"),
)

# judge: 8k answers through the keyword judge, journaled.
JUDGE = StageSpec(
    "judge",
    prepare=lambda d: write_generations(d / "gen.jsonl", 8000),
    argv=lambda w: ["judge", "gen.jsonl", "--judge", "keyword", "-o", "out/verdicts.jsonl"],
    outputs=lambda w: _files(w, ["out/verdicts.jsonl", "out/verdicts.jsonl.manifest.json"]),
    phase=lambda w: "written" if (w / "out/verdicts.jsonl").exists() else
    f"journal {_jsonl_lines(w / 'out/verdicts.jsonl.journal.jsonl')} lines",
)


def _gen_phase(w: Path) -> str:
    if (w / "gen.jsonl").exists():
        return "written"
    return f"journal {_jsonl_lines(w / 'gen.jsonl.journal.jsonl')} lines"


# generate: a tiny llava-hf model, greedy, 30 figstep samples, 2 per batch (loading the model takes about
# as long as answering them, so kills land on both sides of the first journal line).
GENERATE = StageSpec(
    "generate",
    prepare=lambda d: _bench(d, 30),
    argv=lambda w: ["generate", "--model", "model", "--bench", "bench", "-o", "gen.jsonl", "--batch-size", "2",
                    "--max-new-tokens", "6", "--min-new-tokens", "6", "--no-progress"],
    outputs=lambda w: _files(w, ["gen.jsonl", "gen.jsonl.manifest.json"]),
    phase=_gen_phase,
)


def normalise_train_log(data: bytes) -> bytes:
    """Elapsed seconds differ run to run; step, epoch, loss and lr must not."""
    rows = [json.loads(x) for x in data.splitlines() if x.strip()]
    return json.dumps([{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]).encode()


def _train_outputs(w: Path) -> dict[str, bytes]:
    out = _files(w, ["tr/adapter_model.safetensors", "tr/adapter_config.json", "tr/manifest.json",
                     "tr/train_config.json"])
    log = w / "tr/train_log.jsonl"
    if log.is_file():
        out["tr/train_log.jsonl"] = normalise_train_log(log.read_bytes())
    return out


def _train_phase(w: Path) -> str:
    if (w / "tr").exists():
        return "written"
    ck = sorted(p.name for p in (w / "tr.partial/checkpoints").glob("step-*")) if (w / "tr.partial").exists() else []
    return f"checkpoints {ck}" if (w / "tr.partial").exists() else "not started"


# train: LoRA on the tiny model, 4 steps, a checkpoint every step; always started with --resume.
TRAIN = StageSpec(
    "train",
    prepare=lambda d: write_llava(d / "data.json", 10, images=4),
    argv=lambda w: ["train", "data.json", "--model", "tiny", "-o", "tr", "--max-steps", "4", "--batch-size", "2",
                    "--save-every", "1", "--lora-r", "4", "--lora-alpha", "8", "--precision", "fp32",
                    "--no-progress", "--resume"],
    outputs=_train_outputs,
    phase=_train_phase,
    complete=lambda w: (w / "tr").is_dir(),
)

_EXPERIMENT = """\
name: crash
seed: 0
model: {name: tiny}
data: {sources: [data.json]}
include_base: false
train: {max_steps: 2, batch_size: 2, lora_r: 4, lora_alpha: 8, save_every: 1, precision: fp32, progress: false}
sweep: {fraction: [0.25]}
benches:
  - {label: figstep, kind: figstep, input: sb.csv, loader: safebench}
generate: {max_new_tokens: 3, min_new_tokens: 3, batch_size: 2}
judges: [{name: keyword}]
bootstrap: 50
"""


def _run_prepare(d: Path) -> None:
    write_llava(d / "data.json", 8, images=4)
    write_safebench(d / "sb.csv", 3)
    (d / "exp.yaml").write_text(_EXPERIMENT)


def _run_outputs(w: Path) -> dict[str, bytes]:
    run = w / "run"
    out: dict[str, bytes] = {}
    for p in sorted(run.rglob("*")):
        rel = str(p.relative_to(w))
        if not p.is_file() or ".tmp-" in rel or rel.endswith(".journal.jsonl"):
            continue
        name = p.name
        if name in (".done.json", ".hashes.json", "report.html", "README.md") or name.endswith(".png"):
            continue  # timings, mtimes; the report's pictures (the numbers are in report.md)
        data = p.read_bytes()
        out[rel] = (normalise_manifest(data) if name.endswith("manifest.json") else
                    normalise_train_log(data) if name == "train_log.jsonl" else data)
    # Nothing doubled: the same stage folders, each marked done once.
    out["stage folders"] = "\n".join(sorted(p.name for p in (run / ".stages").iterdir())).encode() if (
        run / ".stages").is_dir() else b""
    return out


def _run_phase(w: Path) -> str:
    stages = w / "run/.stages"
    if not stages.is_dir():
        return "not started"
    done = sorted(p.name.split("-")[0] for p in stages.iterdir() if (p / ".done.json").exists())
    return f"{len(done)} stages done" + (" + report" if (w / "run/report.html").exists() else "")


# run: the whole experiment (attack, mix, train, generate, judge, metrics, report) on the tiny model.
RUN = StageSpec(
    "run",
    prepare=_run_prepare,
    argv=lambda w: ["run", "exp.yaml", "-o", "run"],
    outputs=_run_outputs,
    phase=_run_phase,
)

STAGES: dict[str, StageSpec] = {s.name: s for s in (MIX, JUDGE, GENERATE, TRAIN, RUN)}
