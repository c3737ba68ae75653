"""``benchmarks/gpu_lora_step.py`` at toy size on CPU: the GPU benchmark's whole path (real LLaVA-1.5
config shrunk, real tokenizer and processor, unmask's LoRA, a training step, batched generation)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_lora_step.py"


def _script():
    spec = importlib.util.spec_from_file_location("gpu_lora_step", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():
    mod = _script()
    try:
        mod._model_dir(None)
    except SystemExit:
        pytest.skip("the real llava-1.5-7b-hf files (shared/realtok) are not here")
    return mod


def test_tiny_cpu_run(bench, tmp_path, capsys):
    out = tmp_path / "g.json"
    rc = bench.main(["--tiny", "--device", "cpu", "--batch", "2", "--gen-batch", "2", "--steps", "1",
                     "--warmup", "0", "--new-tokens", "3", "--reply-words", "6", "--peak-tflops", "1",
                     "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "train: batch 2" in text and "generate: batch 2" in text and "MFU" in text
    res = json.loads(out.read_text())
    tr, ge = res["train"], res["generate"]
    # LoRA r=128 on q/k/v/o (64->64), gate/up (64->128), down (128->64) of 2 layers: r*(in+out) each
    assert tr["lora_params"] == 2 * 128 * (4 * (64 + 64) + 2 * (64 + 128) + (128 + 64))
    assert tr["projector_params"] > 0 and tr["tokens_per_s"] > 0 and tr["flops_per_step"] > 0
    assert tr["tokens_per_step"] > 2 * 16  # 16 image tokens per 56 px image, plus the text
    assert ge["new_tokens"] == 2 * 3 and ge["new_tokens_per_s"] > 0
    assert tr["mfu"] == pytest.approx(tr["flops_per_s"] / 1e12)


def test_skips_without_gpu_and_refuses_full_size_on_cpu(bench, capsys):
    import torch

    if not torch.cuda.is_available():
        assert bench.main([]) == 0
        assert "no CUDA GPU: skipped" in capsys.readouterr().out
    assert bench.main(["--device", "cpu"]) == 2
    assert "only with --tiny" in capsys.readouterr().err
