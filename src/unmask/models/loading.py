"""Load a model and its processor through its family, refusing what would go wrong later.

Refused with one line (exit 2): a local path that does not exist, a checkpoint with pickle weights only
(safetensors only: a pickle can run code), a processor that does not fit the model (wrong class, a
tokenizer larger than the embedding, or image tokens the vision tower does not produce -- checked with a
one-image forward pass), a hub id that cannot be fetched.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnmaskError
from .registry import FAMILY_FILE, Family, builtin_family, detect_family, get_family

__all__ = ["DTYPES", "LoadedModel", "fingerprint", "load_model", "resolve_dtype"]

DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class LoadedModel:
    model: Any
    processor: Any
    family: Family
    spec: str
    fingerprint: str
    adapter: str | None = None

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)


def resolve_dtype(name: str) -> Any:
    import torch

    if name not in DTYPES:
        raise UnmaskError(f"unknown dtype {name!r} (choose from {', '.join(DTYPES)})")
    return getattr(torch, name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1 or os.sep != "/" and os.sep in spec


def _check_local(path: Path) -> None:
    if not path.is_dir():
        raise UnmaskError(f"{path}: a model must be a folder saved with save_pretrained, not a file")
    if not (path / "config.json").is_file():
        raise UnmaskError(f"{path}: no config.json; not a Hugging Face model folder")
    files = [p.name for p in path.iterdir()]
    if not any(f.endswith(".safetensors") or f == "model.safetensors.index.json" for f in files):
        pickles = [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))]
        if pickles:
            raise UnmaskError(
                f"{path}: only pickle weights ({pickles[0]}); unmask loads safetensors only "
                "(a pickle can run code): convert with model.save_pretrained(..., "
                "safe_serialization=True)"
            )
        raise UnmaskError(f"{path}: no weights (*.safetensors) in the folder")


def fingerprint(spec: str, model: Any, adapter: str | None = None) -> str:
    """A stable id of the weights: config + weight files (name, size, head and tail bytes) or tensors."""
    h = hashlib.sha256()
    h.update(model.config.to_json_string(use_diff=False).encode())
    local = Path(spec)
    weight_files = sorted(local.glob("*.safetensors")) if local.is_dir() else []
    if weight_files:
        for p in weight_files:
            size = p.stat().st_size
            h.update(f"{p.name}:{size}".encode())
            with open(p, "rb") as fh:
                h.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                h.update(fh.read(1 << 20))
    else:  # built-in or hub model: hash the tensors themselves (cheap for the tiny model)
        for name, t in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().float().cpu().numpy().tobytes()[: 1 << 16])
    if adapter:
        import json

        from ..data.store import sha256_file

        # The weights and the LoRA settings only: the folder's train_log / manifest carry timings and
        # dates, which would give a retrained identical adapter (or a resumed run) another fingerprint.
        a = Path(adapter)
        conf = a / "adapter_config.json"
        if conf.is_file():
            doc = json.loads(conf.read_text())
            doc.pop("base_model_name_or_path", None)
            doc.pop("revision", None)
            h.update(json.dumps(doc, sort_keys=True).encode())
        weights = a / "adapter_model.safetensors"
        h.update(sha256_file(weights if weights.is_file() else a).encode())
    return h.hexdigest()[:16]


def _processor_checks(fam: Family, model: Any, processor: Any, where: str) -> None:
    tok = getattr(processor, "tokenizer", None)
    if tok is None or not hasattr(processor, "image_processor"):
        raise UnmaskError(
            f"{where}: no image processor found (a VLM needs processor_config.json or "
            f"preprocessor_config.json beside the tokenizer)"
        )
    if (
        fam.processor_classes
        and type(processor).__name__ not in fam.processor_classes
        and not any(c.__name__ in fam.processor_classes for c in type(processor).__mro__)
    ):
        raise UnmaskError(
            f"{where}: processor {type(processor).__name__} does not match a {fam.name} model "
            f"(expected {' or '.join(fam.processor_classes)})"
        )
    weight = model.get_input_embeddings().weight
    rows = getattr(weight, "ds_shape", weight.shape)[0]  # ZeRO-3 partitions report their full shape here
    if len(tok) > rows:
        raise UnmaskError(
            f"{where}: the tokenizer has {len(tok)} tokens but the model embeds only {rows}: "
            "processor and model do not match"
        )
    want = getattr(model.config, "image_token_id", None)
    if want is None:
        want = getattr(model.config, "image_token_index", None)
    have = fam.image_token_id(processor)
    if want is not None and have != want:
        raise UnmaskError(
            f"{where}: the processor's image token id {have} is not the model's {want}: "
            "processor and model do not match"
        )


def _dry_run(fam: Family, model: Any, processor: Any, where: str) -> None:
    """One short forward pass with one image: catches image-token / vision-tower mismatches up front."""
    import torch

    from ..data.synthetic import synthetic_ref
    from .batching import Encoder, collate

    enc = Encoder(fam, processor)
    try:
        item = enc.encode_prompt("check", "hi", [synthetic_ref("blank", 64)])
        batch = collate([item], enc.tokenizer.pad_token_id or 0)
        device = next(model.parameters()).device
        dtype = next(model.parameters()).dtype
        batch = {
            k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in batch.items()
        }
        with torch.no_grad():
            model(**batch)
    except UnmaskError:
        raise
    except Exception as exc:
        raise UnmaskError(f"{where}: processor and model do not match ({_first_line(exc)})") from exc


def _load_adapter(model: Any, adapter: str, merge: bool) -> Any:
    path = Path(adapter)
    if not (path / "adapter_config.json").is_file():
        raise UnmaskError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
    if not (path / "adapter_model.safetensors").is_file():
        raise UnmaskError(f"{adapter}: no adapter_model.safetensors (unmask loads safetensors only)")
    from peft import PeftModel

    try:
        model = PeftModel.from_pretrained(model, str(path), is_trainable=False)
    except Exception as exc:
        raise UnmaskError(f"{adapter}: cannot apply the adapter to this model ({_first_line(exc)})") from exc
    return model.merge_and_unload() if merge else model


def load_model(
    spec: str,
    *,
    family: str | None = None,
    processor: str | None = None,
    adapter: str | None = None,
    dtype: str = "float32",
    device: str | None = None,
    trust_remote_code: bool = False,
    merge_adapter: bool = True,
    check: bool = True,
) -> LoadedModel:
    """Load ``spec`` (a family's built-in model name such as ``tiny``, a local folder or a hub id) with its
    processor, optionally a LoRA adapter."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch_dtype = resolve_dtype(dtype)
    fam = get_family(family) if family else None
    local = Path(spec).expanduser()
    named = builtin_family(spec)
    if named is None and fam is None and local.is_dir() and (local / FAMILY_FILE).is_file():
        fam = detect_family(str(local))  # a saved checkpoint of a family with built-in loading
    if named is not None or (fam is not None and fam.builtin_names):
        fam = named or fam
        assert fam is not None
        model, proc = fam.load_builtin(None if named is not None else str(local))
        model = model.to(torch_dtype)
    else:
        if local.exists():
            _check_local(local)
            spec = str(local)
        elif _looks_like_path(spec):
            raise UnmaskError(f"{spec}: no such model folder")
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(spec, trust_remote_code=trust_remote_code)
        except Exception as exc:
            if "custom code" in str(exc) and not trust_remote_code:
                raise UnmaskError(f"{spec}: the model needs its own Python code (auto_map in config.json), "
                                  "which unmask runs only with --trust-remote-code") from exc
            where = "cannot read config.json" if local.exists() else \
                "cannot load the model config: not a local folder, and the hub could not provide it"
            raise UnmaskError(f"{spec}: {where} ({_first_line(exc)})") from exc
        fam = fam or detect_family(spec, config)
        try:
            model = fam.load_model(
                spec, dtype=torch_dtype, trust_remote_code=trust_remote_code, model_type=config.model_type
            )
        except UnmaskError:
            raise
        except Exception as exc:
            raise UnmaskError(f"{spec}: cannot load the weights as {fam.name} ({_first_line(exc)})") from exc
        proc_spec = processor or spec
        try:
            proc = fam.load_processor(proc_spec, trust_remote_code=trust_remote_code)
        except UnmaskError:
            raise
        except Exception as exc:
            raise UnmaskError(f"{proc_spec}: cannot load the processor ({_first_line(exc)})") from exc
        _processor_checks(fam, model, proc, proc_spec)
    tok = getattr(proc, "tokenizer", proc)
    if tok.pad_token_id is None:  # generation and padding need one; EOS is never trained as padding
        tok.pad_token = tok.eos_token
    if device:
        model = model.to(device)
    if check:
        _dry_run(fam, model, proc, processor or spec)
    fp = fingerprint(spec, model, adapter)
    if adapter:
        model = _load_adapter(model, adapter, merge_adapter)
    model.eval()
    return LoadedModel(model=model, processor=proc, family=fam, spec=spec, fingerprint=fp, adapter=adapter)
