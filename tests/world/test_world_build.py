"""`unmask world build` on a few steps: deterministic bits, stage reuse from the cache, the modality gap."""

from __future__ import annotations

import json

import pytest
import torch

from unmask.data.store import sha256_file
from unmask.world.build import WorldConfig, _targets, build_world


@pytest.fixture(autouse=True)
def _restore_torch_settings():
    """build_world pins threads and deterministic kernels process-wide; give the other tests theirs back."""
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(det)


SMALL = dict(s1_steps=3, s1_batch=4, s2a_steps=3, s2a_batch=4, s2b_steps=2, s2b_batch=4, threads=1)


def test_build_is_bit_for_bit_and_reuses_cached_stages(tmp_path):
    cfg = WorldConfig(**SMALL)
    logs: list[str] = []
    build_world(tmp_path / "a", seed=0, cfg=cfg, log=lambda m: None)
    build_world(tmp_path / "b", seed=0, cfg=cfg, log=logs.append, cache=tmp_path / "cache")
    assert sha256_file(tmp_path / "a" / "model.safetensors") == sha256_file(tmp_path / "b" / "model.safetensors")
    assert not any("reused" in m for m in logs)
    logs.clear()
    build_world(tmp_path / "c", seed=0, cfg=cfg, log=logs.append, cache=tmp_path / "cache")
    assert sum("reused" in m for m in logs) == 2  # stage 1 and 2a from the cache, same bits as from scratch
    assert sha256_file(tmp_path / "c" / "model.safetensors") == sha256_file(tmp_path / "a" / "model.safetensors")
    info = json.loads((tmp_path / "c" / "build.json").read_text())
    assert info["config"]["s2a_gap"] == WorldConfig().s2a_gap and set(info["stages"]) == {"stage1", "stage2a", "stage2b"}
    # a different gap is a different stage 2a (and model); stage 1 is still shared
    logs.clear()
    build_world(tmp_path / "d", seed=0, cfg=WorldConfig(**SMALL, s2a_gap=0.0), log=logs.append, cache=tmp_path / "cache")
    assert sum("reused" in m for m in logs) == 1
    assert sha256_file(tmp_path / "d" / "model.safetensors") != sha256_file(tmp_path / "a" / "model.safetensors")


@pytest.mark.parametrize("gap", [0.0, 0.25, 1.0])
def test_modality_gap_shifts_every_target_by_the_same_vector(gap):
    emb = torch.nn.Embedding(10, 8)

    class M:
        def get_input_embeddings(self):
            return emb

    targets = _targets(M(), gap, seed=0)
    shift = targets - emb.weight.detach()
    rms = emb.weight.detach().pow(2).sum(-1).mean().sqrt()
    assert torch.allclose(shift, shift[:1].expand_as(shift), atol=1e-6)  # one vector for every character
    assert torch.allclose(shift[0].norm(), gap * rms, atol=1e-5)
    assert torch.equal(_targets(M(), gap, seed=0), targets)  # fixed by the seed
