"""Security: no model code runs unless asked, no pickle is ever unpickled, API keys never reach a file."""

from __future__ import annotations

import inspect
import json
import pickle
import re
import uuid
from pathlib import Path

import pytest
from loopback import serve

SRC = Path(__file__).resolve().parents[2] / "src" / "unmask"


class _Booby:
    """Unpickling this writes a marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "unpickled"))


def _bench(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "samples.jsonl").write_text(
        "".join(json.dumps({"id": f"s{i}", "prompt": f"Say hello {i}.", "image": None, "category": "c",
                            "harmful": bool(i % 2), "attack": "text"}) + "\n" for i in range(3)))
    return folder


def _llava_config() -> dict:
    return {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"],
            "text_config": {"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                            "num_attention_heads": 2, "vocab_size": 64},
            "vision_config": {"model_type": "clip_vision_model", "hidden_size": 16, "intermediate_size": 32,
                              "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 7}}


# ------------------------------------------------------------------------------ trust_remote_code
def test_trust_remote_code_is_off_by_default_everywhere():
    from unmask.generate import GenerateConfig
    from unmask.judges.hf import HFClassifierJudge
    from unmask.models.loading import load_model
    from unmask.models.train import TrainConfig
    from unmask.pipeline.config import ModelSpec

    assert inspect.signature(load_model).parameters["trust_remote_code"].default is False
    assert inspect.signature(HFClassifierJudge.__init__).parameters["trust_remote_code"].default is False
    assert GenerateConfig(model="m", bench="b", out="o").trust_remote_code is False
    assert TrainConfig(data="d", model="m", out="o").trust_remote_code is False
    assert ModelSpec().trust_remote_code is False
    # Nothing switches it on behind the user's back.
    hard_on = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
               for i, line in enumerate(p.read_text().splitlines(), 1)
               if re.search(r"trust_remote_code\s*=\s*True", line)]
    assert hard_on == []


@pytest.fixture
def remote_code_model(tmp_path: Path) -> tuple[Path, Path]:
    """A model folder whose config asks for its own Python code, which would leave a marker if run."""
    folder = tmp_path / "evil-model"
    folder.mkdir()
    marker = tmp_path / "remote-code-ran"
    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n" \
           "from transformers import PretrainedConfig\nclass EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
    (folder / "configuration_evil.py").write_text(code)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "evil", "architectures": ["EvilModel"],
        "auto_map": {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "configuration_evil.EvilConfig"}}))
    (folder / "model.safetensors").write_bytes(b"")
    return folder, marker


def test_model_code_is_not_run_without_trust_remote_code(remote_code_model, tmp_path, run_cli):
    folder, marker = remote_code_model
    bench = _bench(tmp_path / "bench")
    code, _, stderr = run_cli("generate", "--model", folder, "--bench", bench, "-o", tmp_path / "gen.jsonl",
                              "--no-progress")
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert str(folder) in stderr and "--trust-remote-code" in stderr
    assert not marker.exists(), "the model folder's code ran without --trust-remote-code"
    assert not (tmp_path / "gen.jsonl").exists()


# ------------------------------------------------------------------------------------ safetensors only
@pytest.mark.parametrize("command", ["generate", "train", "judge"])
def test_pickle_checkpoint_is_refused_and_never_unpickled(command, tmp_path, run_cli):
    folder = tmp_path / "pickle-model"
    folder.mkdir()
    marker = tmp_path / "unpickled"
    (folder / "config.json").write_text(json.dumps(_llava_config()))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": _Booby(marker)}))
    out = tmp_path / "out"
    if command == "generate":
        args = ["generate", "--model", folder, "--bench", _bench(tmp_path / "bench"), "-o", out / "g.jsonl",
                "--no-progress"]
    elif command == "train":
        data = tmp_path / "data.json"
        data.write_text(json.dumps([{"id": "a", "conversations": [{"from": "human", "value": "hi"},
                                                                  {"from": "gpt", "value": "hello"}]}]))
        args = ["train", data, "--model", folder, "-o", out / "tr", "--max-steps", "1", "--no-progress"]
    else:
        gen = tmp_path / "gen.jsonl"
        gen.write_text(json.dumps({"id": "g", "prompt": "p", "response": "r"}) + "\n")
        args = ["judge", gen, "--judge", "hf-classifier", "--model-path", folder, "-o", out / "v.jsonl"]
    code, _, stderr = run_cli(*args)
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    assert "pytorch_model.bin" in stderr and "safetensors" in stderr and str(folder) in stderr
    assert not marker.exists(), "a pickle was unpickled"
    assert not out.exists() or not any(out.rglob("*"))


def test_pickle_adapter_is_refused(tmp_path, run_cli):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    marker = tmp_path / "unpickled"
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(_Booby(marker)))
    code, _, stderr = run_cli("generate", "--model", "tiny", "--adapter", adapter, "--bench", _bench(tmp_path / "b"),
                              "-o", tmp_path / "g.jsonl", "--no-progress", "--max-new-tokens", "2")
    assert code == 2 and "safetensors" in stderr and str(adapter) in stderr, stderr
    assert not marker.exists() and not (tmp_path / "g.jsonl").exists()


# ------------------------------------------------------------------------------------------ API keys
def test_api_key_is_used_but_never_written(tmp_path, run_cli, monkeypatch):
    key = f"sk-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("UNMASK_RELIABILITY_KEY", key)
    monkeypatch.setenv("UNMASK_CACHE", str(tmp_path / "cache"))  # the llm judge's response cache
    work = tmp_path / "work"
    bench = _bench(work / "bench")
    logs = []
    with serve() as (url, state):
        steps = [
            ["generate", "--backend", "openai", "--model", "served-m", "--api-base", url, "--api-key-env",
             "UNMASK_RELIABILITY_KEY", "--bench", bench, "-o", work / "gen.jsonl", "--no-progress"],
            ["judge", work / "gen.jsonl", "--judge", "llm", "--base-url", url, "--judge-model", "judge-m",
             "--template", "harmbench", "--samples", bench / "samples.jsonl", "--api-key-env",
             "UNMASK_RELIABILITY_KEY", "-o", work / "run" / "bench" / "verdicts.jsonl"],
            ["metrics", work / "run" / "bench" / "verdicts.jsonl", "-o", work / "run" / "bench" / "metrics.json"],
            ["report", work / "run", "-o", work / "report.html"],
            ["--debug", "judge", work / "gen.jsonl", "--judge", "llm", "--base-url", url, "--judge-model", "judge-m",
             "--template", "harmbench", "--samples", bench / "samples.jsonl", "--api-key-env",
             "UNMASK_RELIABILITY_KEY", "-o", work / "run2" / "verdicts.jsonl"],  # the cached path, debug on
        ]
        for argv in steps:
            code, stdout, stderr = run_cli(*argv)
            logs.append(stdout + stderr)
            assert code == 0, stdout + stderr
        sent = [h.get("Authorization") for h, _ in state.requests]
        bodies = b"".join(body for _, body in state.requests)
    # The key was really in use (so the test can fail): every request carried it, in the header only.
    assert sent and all(a == f"Bearer {key}" for a in sent)
    assert key.encode() not in bodies
    (tmp_path / "console.log").write_text("\n".join(logs))  # what the user saw, --debug included
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 8  # generations, verdicts x2, metrics, report, manifests, cache entries, console log
    assert any("cache" in p.parts for p in files)
    leaked = [str(p) for p in files if key.encode() in p.read_bytes()]
    assert leaked == [], f"API key written to {leaked}"
    # The variable's name is recorded (so a run can be repeated), never its value.
    assert "UNMASK_RELIABILITY_KEY" in (work / "run" / "bench" / "verdicts.jsonl.manifest.json").read_text()


# ------------------------------------------------------------------------------ image formats
def test_every_image_is_opened_through_the_raster_allow_list():
    """``PIL.Image.open`` picks a decoder by content, whatever the file's name: EPS in a ``.png`` runs
    Ghostscript. Only ``unmask.data.images.pil_open`` (PNG, JPEG, WebP, GIF, BMP, TIFF) may call it."""
    roots = [SRC, SRC.parents[1] / "benchmarks"]
    calls = [f"{p.relative_to(SRC.parents[1])}:{i}" for root in roots for p in root.rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"\bImage\.open\(", line) and not line.lstrip().startswith("#")]
    assert [c.rsplit(":", 1)[0] for c in calls] == ["src/unmask/data/images.py"], calls  # pil_open's one call


def test_eps_body_is_never_handed_to_ghostscript(tmp_path, monkeypatch):
    from PIL import Image

    from unmask.data.images import RASTER_FORMATS, open_image
    from unmask.errors import UnmaskError

    marker = tmp_path / "gs-ran"
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "gs").write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    (tmp_path / "bin" / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{__import__('os').environ['PATH']}")
    (tmp_path / "x.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    with pytest.raises(UnmaskError, match="cannot be decoded"):
        open_image("x.png", tmp_path)
    assert not marker.exists()
    assert set(RASTER_FORMATS) <= set(Image.registered_extensions().values())


@pytest.mark.parametrize("ref,words", [
    ("unmask://noise?seed=-1", "seed must be between 0 and"),
    (f"unmask://noise?seed={2**64}", "seed must be between 0 and"),
    ("unmask://noise?size=0", "size must be between 1 and 4096"),
    ("unmask://blank?size=5000", "size must be between 1 and 4096"),
    ("unmask://blank?size=1e3", "size must be between 1 and 4096"),
    ("unmask://blank?sise=3", "unknown parameter 'sise'"),
    ("unmask://blank?seed=3", "unknown parameter 'seed'"),
    ("unmask://noise?seed=1&seed=2", "seed given 2 times"),
    ("unmask://noise/extra?seed=1", "malformed synthetic image"),
    ("unmask://fog?size=8", "unknown synthetic image 'fog'"),
])
def test_synthetic_reference_with_bad_parameters_is_one_error(ref, words):
    """``unmask://noise?seed=-1`` used to reach numpy (ValueError, exit 1); other typos were silently ignored."""
    from unmask.data.images import open_image
    from unmask.errors import UnmaskError

    with pytest.raises(UnmaskError, match=re.escape(words)):
        open_image(ref)
