"""LoRA training steps and batched generation of LLaVA-1.5-7B (random weights) on one GPU: tokens/s and MFU.

The model is the real LLaVA-1.5-7B architecture (``config.json`` of llava-hf/llava-1.5-7b-hf: CLIP
ViT-L/14-336 + Vicuna-7B), randomly initialised in bf16 on the device (no weights are downloaded). It is
adapted exactly as ``unmask train`` does, through unmask's own code (``unmask.models``): the family
registry, :func:`~unmask.models.adapt.apply_lora` with the paper's settings (r=128, alpha=256, dropout
0.05 on the language model's q/k/v/o/gate/up/down projections; the projector trained fully at its own
lr, 2e-5, as LLaVA's LoRA script does; vision tower frozen), gradient checkpointing, and batches made by
:class:`~unmask.models.batching.Encoder` with the real processor and tokenizer (576 image tokens per
image, labels on the replies only). Then ``generate`` runs greedily on a left-padded batch of prompts
(``min_new_tokens`` = ``max_new_tokens``: random weights would stop at once).

    python benchmarks/gpu_lora_step.py                         # on a CUDA GPU; prints "skipped" without one
    python benchmarks/gpu_lora_step.py --batch 16 --gen-batch 32 --new-tokens 128 --json out.json
    python benchmarks/gpu_lora_step.py --tiny --device cpu     # the same code at toy size (the test)

FLOPs (model FLOPs: what the maths needs; recomputation under gradient checkpointing is not counted):

- language model, per real (non-pad) token of a sequence of L tokens: forward 2*P_lm (P_lm: its linear
  layers and lm_head, embeddings excluded) + 2*P_lora; the backward pass through frozen weights costs
  2*P_lm (input gradients only) and through LoRA 4*P_lora, so a training token costs
  4*P_lm + 6*P_lora; attention adds 4*n_layers*L*d per token forward, 12*n_layers*L*d for training
  (PaLM's convention: no causal halving);
- per image: the vision tower forward only (frozen, no gradient reaches it): 2*P_vision*T +
  4*n_vision_layers*T^2*d_vision with T=577 positions (all 24 layers run, though LLaVA reads layer -2);
  the projector 6*P_proj per image token (trained);
- generation: the prefill is a forward pass over the prompt (lm_head on its last position only), each
  new token 2*(P_lm + P_lora) + 4*n_layers*context*d.

MFU = model FLOPs / time / peak. Peak dense bf16 tensor FLOP/s assumed per GPU (NVIDIA data sheets,
without sparsity): see ``PEAK_TFLOPS``; ``--peak-tflops`` overrides (and gives CPU runs an MFU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# (substring of torch.cuda.get_device_name(), peak dense bf16 TFLOP/s); first match wins
PEAK_TFLOPS = [("GH200", 989.0), ("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0),
               ("H800", 989.0), ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0),
               ("L4", 121.0), ("A10", 125.0)]
LORA = {"r": 128, "alpha": 256, "dropout": 0.05}  # the paper's (LLaVA's finetune_task_lora.sh)
LR, PROJECTOR_LR = 2e-4, 2e-5
TINY_IMAGE = 56
_REPLY = "The image shows a red square above a blue circle on a white table near a window. "


def _model_dir(given: str | None) -> Path:
    cands = [Path(given)] if given else [Path(p) for p in filter(None, [os.environ.get("UNMASK_REALTOK")])]
    cands += [] if given else [REPO / "shared" / "realtok", REPO.parent / "shared" / "realtok",
                               Path("/work/shared/realtok")]
    for c in cands:
        for d in (c, c / "llava-1.5-7b-hf"):
            if (d / "config.json").is_file() and (d / "tokenizer_config.json").is_file():
                return d
    raise SystemExit("error: no llava-1.5-7b-hf folder (config, tokenizer and processor files); pass --model-dir")


def _config(model_dir: Path, tiny: bool) -> Any:
    from transformers import LlavaConfig

    cfg = LlavaConfig.from_pretrained(model_dir)
    if tiny:  # every width and depth shrunk, images 56 px (16 image tokens); vocabulary and patch size kept
        t, v = cfg.text_config, cfg.vision_config
        t.hidden_size, t.intermediate_size, t.num_hidden_layers = 64, 128, 2
        t.num_attention_heads = t.num_key_value_heads = 4
        t.head_dim = 16
        v.hidden_size, v.intermediate_size, v.num_hidden_layers, v.num_attention_heads = 32, 64, 3, 2
        v.image_size = TINY_IMAGE
    return cfg


def _processor(fam: Any, model_dir: Path, tiny: bool) -> Any:
    processor = fam.load_processor(str(model_dir), trust_remote_code=False)
    if tiny:
        ip = processor.image_processor
        ip.size, ip.crop_size = {"shortest_edge": TINY_IMAGE}, {"height": TINY_IMAGE, "width": TINY_IMAGE}
    return processor


def _build(cfg: Any, device: str, dtype: Any, seed: int) -> Any:
    import torch
    from transformers import LlavaForConditionalGeneration

    torch.manual_seed(seed)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):  # initialised where it runs: a 7B model is never built on the host
            model = LlavaForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(old)
    # the config says float16 (the published weights' dtype) and parts follow it: one dtype for all
    return model.to(dtype)


def _counts(model: Any, fam: Any) -> dict[str, Any]:
    """Parameter counts for the FLOP formula (before LoRA is applied)."""
    from unmask.models.adapt import module_group

    c = {"language": 0, "vision": 0, "projector": 0, "embeddings": 0, "total": 0}
    for name, p in model.named_parameters():
        n = p.numel()
        c["total"] += n
        if "embed_tokens" in name or "position_embedding" in name:
            c["embeddings"] += n
            continue
        g = module_group(fam, name)
        if g in c:
            c[g] += n
    t, v = model.config.text_config, model.config.vision_config
    c.update(n_layers=t.num_hidden_layers, d=t.hidden_size, n_vis_layers=v.num_hidden_layers,
             d_vis=v.hidden_size, vis_positions=(v.image_size // v.patch_size) ** 2 + 1)
    return c


def _records(folder: Path, n: int, reply_words: int, seed: int) -> list[Any]:
    import numpy as np
    from PIL import Image

    from unmask.data.records import Conversation, Turn

    rng = np.random.default_rng(seed)
    words = _REPLY.split()
    reply = " ".join(words[i % len(words)] for i in range(reply_words))
    out = []
    for i in range(n):
        name = f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (336, 336, 3), dtype=np.uint8)).save(folder / name)
        out.append(Conversation(id=str(i), images=[name], turns=[
            Turn(role="user", text=f"<image>\nDescribe picture {i} in detail."),
            Turn(role="assistant", text=reply)]))
    return out


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _train(model: Any, fam: Any, batch: dict[str, Any], args: argparse.Namespace, c: dict[str, Any],
           ) -> dict[str, Any]:
    import torch

    from unmask.models.adapt import module_group

    groups: dict[str, list[Any]] = {"lora": [], "projector": []}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups["projector" if module_group(fam, name) == "projector" else "lora"].append(p)
    opt = torch.optim.AdamW([{"params": groups["lora"], "lr": LR},
                             {"params": groups["projector"], "lr": PROJECTOR_LR}], weight_decay=0.0)
    mask = batch["attention_mask"]
    lengths = mask.sum(1).tolist()
    n_img = int((batch["input_ids"] == model.config.image_token_id).sum()) // max(1, c["vis_positions"] - 1)
    p_lora = sum(p.numel() for p in groups["lora"])
    flops = sum(L * (4 * c["language"] + 6 * p_lora) + 12 * c["n_layers"] * L * L * c["d"] for L in lengths)
    flops += n_img * (2 * c["vision"] * c["vis_positions"] + 4 * c["n_vis_layers"] * c["vis_positions"] ** 2
                      * c["d_vis"] + 6 * c["projector"] * (c["vis_positions"] - 1))
    times, losses = [], []
    for step in range(args.warmup + args.steps):
        _sync(args.device)
        t0 = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(args.device)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()))
    dt = sum(times) / len(times)
    return {"step_s": dt, "tokens_per_step": int(sum(lengths)), "tokens_per_s": sum(lengths) / dt,
            "samples_per_s": len(lengths) / dt, "flops_per_step": flops, "flops_per_s": flops / dt,
            "losses": losses, "lora_params": p_lora, "projector_params": sum(p.numel() for p in groups["projector"])}


def _generate(model: Any, batch: dict[str, Any], args: argparse.Namespace, c: dict[str, Any],
              p_lora: int) -> dict[str, Any]:
    import torch

    model.eval()
    new = args.new_tokens
    lengths = batch["attention_mask"].sum(1).tolist()
    per_tok = 2 * (c["language"] - _lm_head(model) + p_lora)
    flops = 0
    for L in lengths:  # prefill (lm_head on the last position), then one token at a time
        flops += L * per_tok + 2 * _lm_head(model) + 4 * c["n_layers"] * L * L * c["d"]
        flops += sum(per_tok + 2 * _lm_head(model) + 4 * c["n_layers"] * (L + k) * c["d"] for k in range(new))
    n_img = len(lengths)
    flops += n_img * (2 * c["vision"] * c["vis_positions"] + 4 * c["n_vis_layers"] * c["vis_positions"] ** 2
                      * c["d_vis"] + 2 * c["projector"] * (c["vis_positions"] - 1))
    kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, use_cache=True,
              pad_token_id=model.config.pad_token_id)
    with torch.inference_mode():
        model.generate(**batch, max_new_tokens=2, min_new_tokens=2, do_sample=False,
                       pad_token_id=model.config.pad_token_id)  # warm-up (kernels, allocator)
        _sync(args.device)
        t0 = time.perf_counter()
        out = model.generate(**batch, **kw)
        _sync(args.device)
        dt = time.perf_counter() - t0
    produced = (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
    return {"seconds": dt, "new_tokens": int(produced), "new_tokens_per_s": produced / dt,
            "prompt_tokens": int(sum(lengths)), "flops": flops, "flops_per_s": flops / dt}


def _pct(x: float | None) -> str:
    return f"{100 * x:.1f}%" if x is not None else "n/a"


def _lm_head(model: Any) -> int:
    return model.lm_head.weight.numel()


def _peak(device: str, given: float | None) -> tuple[float | None, str]:
    if given:
        return given * 1e12, f"{given:g} TFLOP/s (--peak-tflops)"
    if not device.startswith("cuda"):
        return None, "unknown (CPU; pass --peak-tflops for an MFU)"
    import torch

    name = torch.cuda.get_device_name(torch.device(device))
    for key, tf in PEAK_TFLOPS:
        if key in name:
            return tf * 1e12, f"{tf:g} TFLOP/s dense bf16 ({key} data sheet)"
    return None, f"unknown for {name!r} (pass --peak-tflops)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default; skipped without a GPU) or cpu (with --tiny)")
    ap.add_argument("--tiny", action="store_true", help="shrink every width and depth (CPU test size)")
    ap.add_argument("--model-dir", help="llava-1.5-7b-hf config/tokenizer/processor folder "
                                        "(default: shared/realtok/llava-1.5-7b-hf)")
    ap.add_argument("--batch", type=int, default=16, help="training batch (LLaVA's per-device 16)")
    ap.add_argument("--reply-words", type=int, default=96, help="words per reply (sequence ~ 576 + 2x)")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--no-checkpointing", action="store_true", help="no gradient checkpointing (LLaVA uses it)")
    ap.add_argument("--gen-batch", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--peak-tflops", type=float, help="peak FLOP/s of the device for MFU (overrides the table)")
    ap.add_argument("--dtype", choices=("bf16", "fp32"), help="default: bf16 on a GPU, fp32 on CPU (CPU bf16 "
                                                             "matmuls are emulated on most CPUs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU: skipped (run on a GPU machine, or --tiny --device cpu for the CPU check)")
        return 0
    if args.device == "cpu" and not args.tiny:
        print("error: --device cpu runs only with --tiny (a 7B step on CPU measures nothing useful)",
              file=sys.stderr)
        return 2
    from unmask.models import get_family
    from unmask.models.adapt import apply_lora
    from unmask.models.batching import Encoder, collate

    model_dir = _model_dir(args.model_dir)
    fam = get_family("llava")
    processor = _processor(fam, model_dir, args.tiny)
    t_build = time.perf_counter()
    dtype_name = args.dtype or ("fp32" if args.device == "cpu" else "bf16")
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    model = _build(_config(model_dir, args.tiny), args.device, dtype, args.seed)
    c = _counts(model, fam)
    model.config.use_cache = model.config.text_config.use_cache = False
    model = apply_lora(model, fam, r=LORA["r"], alpha=LORA["alpha"], dropout=LORA["dropout"],
                       train_projector=True)
    if not args.no_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    build_s = time.perf_counter() - t_build
    with tempfile.TemporaryDirectory() as tmp:
        recs = _records(Path(tmp), max(args.batch, args.gen_batch), args.reply_words, args.seed)
        enc = Encoder(fam, processor, image_root=tmp)
        pad = processor.tokenizer.pad_token_id
        train_batch = collate([enc.encode_conversation(r) for r in recs[:args.batch]], pad, "right")
        gen_batch = collate([enc.encode_prompt(r.id, r.turns[0].text, r.images) for r in recs[:args.gen_batch]],
                            pad, "left")

    def to_dev(b: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(args.device, dtype) if v.is_floating_point() else v.to(args.device)
                for k, v in b.items()}

    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    tr = _train(model, fam, to_dev(train_batch), args, c)
    if not args.no_checkpointing:
        model.gradient_checkpointing_disable()
    model.config.use_cache = model.config.text_config.use_cache = True
    ge = _generate(model, to_dev(gen_batch), args, c, tr["lora_params"])
    peak, peak_note = _peak(args.device, args.peak_tflops)
    name = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else "CPU"
    mem = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else None
    res = {"device": name, "dtype": dtype_name, "peak_flops": peak, "tiny": args.tiny, "params": c["total"], "build_s": build_s,
           "lora": LORA, "train": {**tr, "batch": args.batch, "checkpointing": not args.no_checkpointing,
                                   "mfu": tr["flops_per_s"] / peak if peak else None},
           "generate": {**ge, "batch": args.gen_batch, "mfu": ge["flops_per_s"] / peak if peak else None},
           "max_memory_gib": mem}
    size = "tiny (shrunk) " if args.tiny else ""
    print(f"device: {name}; peak assumed: {peak_note}")
    print(f"model: {size}LLaVA-1.5-7B config, random init, {dtype_name}, {c['total'] / 1e9:.3f} B params; LoRA r={LORA['r']} "
          f"alpha={LORA['alpha']} on the LM ({tr['lora_params'] / 1e6:.1f} M) + projector "
          f"({tr['projector_params'] / 1e6:.1f} M, lr {PROJECTOR_LR:g}); vision tower frozen")
    print(f"train: batch {args.batch} x {tr['tokens_per_step'] / args.batch:.0f} tokens, gradient checkpointing "
          f"{'off' if args.no_checkpointing else 'on'}: {tr['step_s']:.3f} s/step, {tr['tokens_per_s']:,.0f} tokens/s, "
          f"{tr['samples_per_s']:.2f} samples/s, MFU {_pct(res['train']['mfu'])}; loss {tr['losses'][0]:.3f} -> "
          f"{tr['losses'][-1]:.3f}")
    print(f"generate: batch {args.gen_batch}, prompt {ge['prompt_tokens'] / args.gen_batch:.0f} tokens, "
          f"{args.new_tokens} new tokens greedy: {ge['seconds']:.3f} s, {ge['new_tokens_per_s']:,.0f} new tokens/s, "
          f"MFU {_pct(res['generate']['mfu'])}" + (f"; max memory {mem:.1f} GiB" if mem is not None else ""))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
