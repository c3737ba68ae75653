"""Experiment configuration: pydantic models loaded from YAML, ``key=value`` overrides, unknown keys are errors.

One experiment = a base model, benign data, a set of *branches* (each a mixture + fine-tune; a sweep
over refusal fractions or any other branch setting expands into branches), benchmarks, judges and a
report. See ``recipes/*.yaml`` for complete examples.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import UnmaskError

__all__ = ["Branch", "Experiment", "expand_branches", "load_experiment"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    name: str = Field("tiny", description="'tiny' (built-in world), a local path or a hub id")
    family: str | None = Field(None, description="model family (default: detected from the config)")
    trust_remote_code: bool = False


class DataSpec(_Strict):
    sources: list[str] = Field(..., min_length=1, description="benign instruction data (files or world:NAME)")
    format: str | None = None
    image_root: str | None = None
    refusal_source: str | None = None
    curated: str | None = Field(None, description="VLGuard train file for the curated baseline (its LLaVA-format "
                                                  "file, as the paper, or train.json)")
    curated_images: str | None = Field(None, description="folder the curated set's image paths are relative to "
                                                         "(under image_root), e.g. data/images/vlguard")
    curated_layout: Literal["auto", "llava", "pairs"] = Field(
        "auto", description="auto | llava (a raw train.json converted as VLGuard's script does) | pairs")


class MixSpec(_Strict):
    """The mix settings of one branch (see ``unmask mix --help``)."""

    fraction: float | None = None
    rejections: int | None = None
    keep: int | None = None
    refusals: str | None = Field(None, description="refusal bank file, one per line")
    refusal: str | None = Field(None, description="one refusal sentence instead of the default (the paper's)")
    all_turns: bool = False
    refusal_image: Literal["keep", "blank", "noise", "remove"] = "keep"
    same_ids: bool = False
    curated: bool = Field(False, description="add the curated set (data.curated) to this branch")
    curated_count: int | None = None
    use_refusal_source: bool = False


class Branch(_Strict):
    label: str
    mix: MixSpec | None = Field(None, description="None: the base model itself, not fine-tuned")
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train settings")


class BenchSpec(_Strict):
    label: str
    kind: str = Field(..., description="attack kind: figstep, mmsb-typo, mmsb-sd-typo, text, blank, ...")
    input: str = Field(..., description="question set (file, folder, or world:NAME)")
    loader: str | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="extra attack options (limit, prompt, ...)")
    generate: dict[str, Any] = Field(default_factory=dict, description="this bench's generation settings, over "
                                     "the experiment's (e.g. the paper's FigStep sampling)")


class JudgeSpec(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class LaunchSpec(_Strict):
    accelerate: bool = Field(False, description="run training under `accelerate launch`")
    config_file: str | None = Field(None, description="accelerate config (recipes/accelerate/*.yaml)")
    num_processes: int | None = None


class Experiment(_Strict):
    name: str
    out: str | None = Field(None, description="run folder (default runs/<name>)")
    seed: int = 0
    model: ModelSpec = Field(default_factory=ModelSpec)
    data: DataSpec
    mix: MixSpec = Field(default_factory=MixSpec, description="defaults for every branch's mix")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig settings for every branch")
    branches: list[Branch] = Field(default_factory=list)
    sweep: dict[str, list[Any]] = Field(default_factory=dict,
                                        description="cartesian sweep over branch settings, e.g. {fraction: [0, 0.1]}")
    include_base: bool = Field(True, description="evaluate the base model too (branch 'base')")
    benches: list[BenchSpec] = Field(..., min_length=1)
    generate: dict[str, Any] = Field(default_factory=dict, description="generation settings")
    judges: list[JudgeSpec] = Field(default_factory=lambda: [JudgeSpec(name="keyword")], min_length=1)
    world: dict[str, int] = Field(default_factory=dict,
                                  description="sizes of the tiny world's exported data (n_train, n_curated)")
    bootstrap: int = 1000
    jobs: int = Field(1, ge=1, description="stages run side by side (CPU runs; each gets its share of the cores)")
    report: bool = True
    launch: LaunchSpec = Field(default_factory=LaunchSpec)

    @model_validator(mode="after")
    def _unique_labels(self) -> Experiment:
        labels = [b.label for b in self.branches] + [b.label for b in self.benches]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"duplicate labels: {sorted(dup)}")
        return self


_SWEEP_KEYS = set(MixSpec.model_fields)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def expand_branches(exp: Experiment) -> list[Branch]:
    """The experiment's branches: base (if asked), explicit branches, then the sweep's cartesian product.

    A sweep key is a mix setting (``fraction``) or ``train.<key>``; a sweep over fraction alone gives
    labels ``mix-<p>``, otherwise ``k=v,k=v``."""
    out: list[Branch] = []
    if exp.include_base:
        out.append(Branch(label="base", mix=None))
    out.extend(exp.branches)
    if exp.sweep:
        keys = list(exp.sweep)
        for k in keys:
            if not (k in _SWEEP_KEYS or k.startswith("train.")):
                raise UnmaskError(f"sweep: unknown key {k!r} (a mix setting or train.<key>)")
        for values in itertools.product(*(exp.sweep[k] for k in keys)):
            mix = exp.mix.model_dump()
            train: dict[str, Any] = {}
            for k, v in zip(keys, values, strict=True):
                if k.startswith("train."):
                    train[k.removeprefix("train.")] = v
                else:
                    mix[k] = v
            label = f"mix-{_fmt(values[0])}" if keys == ["fraction"] else ",".join(
                f"{k}={_fmt(v)}" for k, v in zip(keys, values, strict=True))
            out.append(Branch(label=label, mix=MixSpec(**mix), train=train))
    labels = [b.label for b in out]
    if len(set(labels)) != len(labels):
        raise UnmaskError(f"branches: duplicate labels {sorted({x for x in labels if labels.count(x) > 1})}")
    return out


def _set_dotted(doc: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cur: Any = doc
    for p in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(p)]
        else:
            cur = cur.setdefault(p, {})
    if isinstance(cur, list):
        cur[int(parts[-1])] = value
    else:
        cur[parts[-1]] = value


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> Experiment:
    """Load ``path`` (YAML) and apply ``key=value`` overrides (values parsed as YAML: 0.1, true, [0, 0.1])."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnmaskError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f": line {mark.line + 1}" if mark is not None else ""
        raise UnmaskError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(doc, dict):
        raise UnmaskError(f"{path}: an experiment is a YAML mapping")
    for ov in overrides or []:
        if "=" not in ov:
            raise UnmaskError(f"override {ov!r}: expected key=value")
        key, raw = ov.split("=", 1)
        try:
            _set_dotted(doc, key.strip(), yaml.safe_load(raw))
        except (ValueError, IndexError, TypeError, AttributeError):
            raise UnmaskError(f"override {ov!r}: no such place in {path}") from None
    try:
        exp = Experiment(**doc)
    except ValidationError as exc:
        # An unknown key usually explains the missing one beside it (a typo): name it first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        msgs = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors[:3]]
        raise UnmaskError(f"{path}: {'; '.join(msgs)}") from None
    return exp
