"""``unmask generate`` with the transformers backend: rows, batching, shards, adapters, bad input."""

from __future__ import annotations

import json

import pytest

from unmask.cli import main
from unmask.data.store import read_jsonl
from unmask.errors import UnmaskError
from unmask.generate import GenerateConfig, generate, merge_shards, read_bench


def _cfg(model, bench, out, **kw) -> GenerateConfig:
    base = dict(
        model=str(model),
        bench=str(bench),
        out=str(out),
        max_new_tokens=6,
        min_new_tokens=4,
        batch_size=3,
        progress=False,
    )
    base.update(kw)
    return GenerateConfig(**base)


def _run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_rows_follow_the_benchmark_with_model_and_settings(tiny_ckpt, bench, tmp_path):
    out = generate(_cfg(tiny_ckpt("llava"), bench, tmp_path / "g.jsonl"))
    rows = read_jsonl(out)
    samples = read_jsonl(bench / "samples.jsonl")
    assert [r["id"] for r in rows] == [s["id"] for s in samples]
    for r, s in zip(rows, samples, strict=True):
        assert r["response"].strip() and r["model"] == str(tiny_ckpt("llava")) and r["adapter"] is None
        assert (r["category"], r["attack"], r["harmful"]) == (s["category"], s["attack"], s["harmful"])
        assert r["settings"] == {
            "backend": "hf",
            "max_new_tokens": 6,
            "min_new_tokens": 4,
            "do_sample": False,
            "system_prompt": None,
            "dtype": "float32",
        }
    manifest = json.loads((tmp_path / "g.jsonl.manifest.json").read_text())
    assert manifest["stage"] == "generate" and manifest["counts"]["samples"] == 7
    assert not (tmp_path / "g.jsonl.journal.jsonl").exists()


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_batched_greedy_equals_one_at_a_time(family, tiny_ckpt, bench, tmp_path):
    one = read_jsonl(generate(_cfg(tiny_ckpt(family), bench, tmp_path / "one.jsonl", batch_size=1)))
    many = read_jsonl(generate(_cfg(tiny_ckpt(family), bench, tmp_path / "many.jsonl", batch_size=7)))
    assert [r["response"] for r in one] == [r["response"] for r in many]


def test_shards_merge_back_into_the_full_run(tiny_ckpt, bench, tmp_path):
    ck = tiny_ckpt("llava")
    full = read_jsonl(generate(_cfg(ck, bench, tmp_path / "full.jsonl")))
    parts = [generate(_cfg(ck, bench, tmp_path / f"p{i}.jsonl", shard=f"{i}/3")) for i in range(3)]
    assert sum(len(read_jsonl(p)) for p in parts) == 7
    merged = read_jsonl(merge_shards([parts[2], parts[0], parts[1]], tmp_path / "merged.jsonl"))
    assert merged == full
    with pytest.raises(UnmaskError, match=r"missing \[1\]"):
        merge_shards([parts[0], parts[2]], tmp_path / "bad.jsonl")
    with pytest.raises(UnmaskError, match=r"repeated \[0\]"):
        merge_shards([parts[0], parts[0], parts[1], parts[2]], tmp_path / "bad.jsonl")
    assert not (tmp_path / "bad.jsonl").exists()


def test_adapter_is_applied_and_recorded(tiny_ckpt, bench, tmp_path):
    from peft import LoraConfig, get_peft_model

    from unmask.models.adapt import lora_target_regex
    from unmask.models.loading import load_model

    loaded = load_model(str(tiny_ckpt("llava")), check=False)
    peft_model = get_peft_model(
        loaded.model,
        LoraConfig(
            r=4, lora_alpha=64, init_lora_weights=False, target_modules=lora_target_regex(loaded.family)
        ),
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    base = read_jsonl(generate(_cfg(tiny_ckpt("llava"), bench, tmp_path / "base.jsonl")))
    tuned = read_jsonl(
        generate(_cfg(tiny_ckpt("llava"), bench, tmp_path / "t.jsonl", adapter=str(tmp_path / "adapter")))
    )
    assert all(r["adapter"] == str(tmp_path / "adapter") for r in tuned)
    assert tuned[0]["model_fingerprint"] != base[0]["model_fingerprint"]
    assert [r["response"] for r in tuned] != [r["response"] for r in base]


def test_tiny_model_generates(bench, tmp_path, capsys):
    code, out, err = _run(
        [
            "generate",
            "--model",
            "tiny",
            "--bench",
            str(bench),
            "-o",
            str(tmp_path / "t.jsonl"),
            "--max-new-tokens",
            "4",
            "--min-new-tokens",
            "2",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    assert len(read_jsonl(tmp_path / "t.jsonl")) == 7


def test_bench_without_samples_is_exit_2(tiny_ckpt, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(
        [
            "generate",
            "--model",
            str(tiny_ckpt("llava")),
            "--bench",
            str(tmp_path / "empty"),
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        capsys,
    )
    assert code == 2 and "no samples.jsonl" in err and err.strip().count("\n") == 0
    (tmp_path / "empty" / "samples.jsonl").write_text("\n")
    code, _, err = _run(
        [
            "generate",
            "--model",
            str(tiny_ckpt("llava")),
            "--bench",
            str(tmp_path / "empty"),
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        capsys,
    )
    assert code == 2 and "no samples" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_undecodable_image_is_exit_2_with_nothing_written(tiny_ckpt, bench, tmp_path, capsys):
    (bench / "images" / "2.png").write_bytes(b"not an image at all")
    out = tmp_path / "o.jsonl"
    code, _, err = _run(
        ["generate", "--model", str(tiny_ckpt("llava")), "--bench", str(bench), "-o", str(out)], capsys
    )
    assert code == 2 and "'s2'" in err and "cannot be decoded" in err and err.strip().count("\n") == 0
    assert list(tmp_path.glob("o.jsonl*")) == []


def test_missing_model_is_exit_2(bench, tmp_path, capsys):
    code, _, err = _run(
        [
            "generate",
            "--model",
            str(tmp_path / "no-model"),
            "--bench",
            str(bench),
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        capsys,
    )
    assert code == 2 and "no such model folder" in err and err.strip().count("\n") == 0


def test_missing_vllm_is_a_clear_error(tiny_ckpt, bench, tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    code, _, err = _run(
        [
            "generate",
            "--backend",
            "vllm",
            "--model",
            str(tiny_ckpt("llava")),
            "--bench",
            str(bench),
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        capsys,
    )
    assert code == 2 and "pip install 'unmask[vllm]'" in err and err.strip().count("\n") == 0
    assert list(tmp_path.glob("o.jsonl*")) == []


def test_rerun_of_a_finished_output_regenerates_nothing(tiny_ckpt, bench, tmp_path):
    import orjson

    out = generate(_cfg(tiny_ckpt("llava"), bench, tmp_path / "g.jsonl"))
    first = read_jsonl(out)
    generate(_cfg(tiny_ckpt("llava"), bench, out))
    assert read_jsonl(out) == first
    assert orjson.loads((tmp_path / "g.jsonl.manifest.json").read_bytes())["counts"]["resumed"] == 7
    generate(_cfg(tiny_ckpt("llava"), bench, out, max_new_tokens=5))  # other settings: generated anew
    assert orjson.loads((tmp_path / "g.jsonl.manifest.json").read_bytes())["counts"]["resumed"] == 0


def test_static_kv_cache_gives_the_default_cache_outputs(tiny_ckpt, bench, tmp_path):
    from unmask.generate.hf import HFBackend

    backend = HFBackend(_cfg(tiny_ckpt("llava_next"), bench, tmp_path / "x.jsonl", max_new_tokens=8))
    samples = read_bench(bench)
    fast = backend.generate(samples)
    assert backend.static_cache  # the static path really ran
    backend.static_cache = False
    assert backend.generate(samples) == fast
