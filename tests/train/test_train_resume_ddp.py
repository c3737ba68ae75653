"""Real processes: resume after ``kill -9``, and a two-process (gloo) run under torchrun."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from unmask.models.train import TrainConfig, train

_ARGS = [
    "--precision",
    "fp32",
    "--batch-size",
    "2",
    "--lr",
    "1e-2",
    "--lora-r",
    "8",
    "--lora-alpha",
    "16",
    "--lora-dropout",
    "0",
    "--no-progress",
]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_resume_after_kill_9_continues_from_the_checkpoint(tiny_ckpt, train_data, tmp_path, capsys):
    ckpt = tiny_ckpt("llava")
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "unmask",
        "train",
        str(train_data),
        "--model",
        str(ckpt),
        "-o",
        str(out),
        "--max-steps",
        "30",
        "--save-every",
        "4",
        *_ARGS,
    ]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = tmp_path / "run.partial" / "checkpoints" / "step-4"
    deadline = time.time() + 180
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert first.exists(), (
        f"no checkpoint appeared: {proc.stderr.read().decode()[-2000:] if proc.poll() else ''}"
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # a killed run publishes nothing

    cfg = dict(
        data=str(train_data),
        model=str(ckpt),
        precision="fp32",
        batch_size=2,
        lr=1e-2,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        max_steps=30,
        save_every=4,
        progress=False,
    )
    resumed = train(TrainConfig(out=str(out), resume=True, **cfg))
    assert "resuming from step-" in capsys.readouterr().out  # it did not silently start over
    steps = [r["step"] for r in _log(resumed)]
    assert steps == list(range(1, 31)), "steps lost or doubled across the kill"
    reference = train(TrainConfig(out=str(tmp_path / "ref"), **cfg))
    for a, b in zip(_log(resumed), _log(reference), strict=True):
        assert math.isclose(a["loss"], b["loss"], rel_tol=1e-4, abs_tol=1e-4), (a, b)
        assert math.isclose(a["lr"], b["lr"], rel_tol=1e-9)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_cpu_train_and_loss_falls(tiny_ckpt, train_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "unmask",
        "train",
        str(train_data),
        "--model",
        str(tiny_ckpt("llava")),
        "-o",
        str(out),
        "--max-steps",
        "12",
        *_ARGS,
    ]
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("trained lora") == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["processes"] == 2
    log = _log(out)
    assert [r["step"] for r in log] == list(range(1, 13))
    losses = [r["loss"] for r in log]
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    # 12 records over 2 processes x batch 2: 3 optimizer steps per epoch, so 12 steps are 4 epochs
    assert log[-1]["epoch"] == 3
