"""Experiment configuration: pydantic models loaded from YAML, ``key=value`` overrides, unknown keys are errors.

One experiment = a base model, benign data, a set of *branches* (each a mixture + fine-tune; a sweep
over refusal fractions or any other branch setting expands into branches), benchmarks, judges and a
report. See ``recipes/*.yaml`` for complete examples.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import UnmaskError, short
from ..mix.settings import MixConfig, MixSettings
from ..mix.vlguard import CuratedLayout
from .yamlload import load_yaml_file, load_yaml_text

__all__ = ["Branch", "Experiment", "MixSpec", "expand_branches", "load_experiment"]


# Labels and names become folder names (RUN/results/<model>/<bench>/<judge>, runs/<name>): names, not paths.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,=+@-]{0,99}")


def check_name(value: str) -> str:
    """``value`` if it is a plain name (letters, digits, ``_ . , = + @ -``; at most 100; no ``/``, no ``..``)."""
    if not _NAME.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"{short(value)} is not a name: use letters, digits and _ . , = + @ - "
                         "(at most 100, starting with a letter, digit or _); it becomes a folder name")
    return value


Name = Annotated[str, AfterValidator(check_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    name: str = Field("tiny", description="a local path, a hub id, or a model family's built-in model name "
                      "(the world plugin's 'tiny', the default)")
    family: str | None = Field(None, description="model family (default: detected from the config)")
    trust_remote_code: bool = False


class DataSpec(_Strict):
    sources: list[str] = Field(..., min_length=1, description="benign instruction data (files, or SOURCE:SET "
                                                               "of a generated data source, e.g. world:train)")
    format: str | None = None
    image_root: str | None = None
    refusal_source: str | None = None
    curated: str | None = Field(None, description="VLGuard train file for the curated baseline (its LLaVA-format "
                                                  "file, as the paper, or train.json)")
    curated_images: str | None = Field(None, description="folder the curated set's image paths are relative to "
                                                         "(under image_root), e.g. data/images/vlguard")
    curated_layout: CuratedLayout = Field(
        "auto", description="auto | llava (a raw train.json converted as VLGuard's script does) | pairs")


class MixSpec(MixSettings):
    """The mix settings of one branch: :class:`unmask.mix.settings.MixSettings` (the fields of ``unmask mix``,
    declared there once), plus what a recipe names its own way."""

    refusals: str | None = Field(None, description="refusal bank file, one per line")
    refusal: str | None = Field(None, description="one refusal sentence instead of the default (the paper's)")
    curated: bool = Field(False, description="add the curated set (data.curated) to this branch")
    use_refusal_source: bool = Field(False, description="take the refusal records from data.refusal_source")

    def method_settings(self) -> dict[str, Any]:
        """The settings :class:`~unmask.mix.settings.MixConfig` takes as they are (the rest are resolved)."""
        return self.model_dump(include=set(MixSettings.model_fields))


class Branch(_Strict):
    label: Name
    mix: MixSpec | None = Field(None, description="None: the base model itself, not fine-tuned")
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train settings")


class BenchSpec(_Strict):
    label: Name
    kind: str = Field(..., description="attack kind: figstep, mmsb-typo, mmsb-sd-typo, text, blank, ...")
    input: str = Field(..., description="question set (file, folder, or SOURCE:SET)")
    loader: str | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="extra attack options (limit, prompt, ...)")
    generate: dict[str, Any] = Field(default_factory=dict, description="this bench's generation settings, over "
                                     "the experiment's (e.g. the paper's FigStep sampling)")
    check_ocr: str | None = Field(None, description="after rendering, read every image back with this OCR engine "
                                  "(tesseract | rapidocr): ocr.json / ocr.jsonl beside samples.jsonl, as "
                                  "`unmask attack --check-ocr`")


class JudgeSpec(_Strict):
    name: Name
    options: dict[str, Any] = Field(default_factory=dict)


class LaunchSpec(_Strict):
    accelerate: bool = Field(False, description="run training under `accelerate launch`")
    config_file: str | None = Field(None, description="accelerate config (recipes/accelerate/*.yaml)")
    num_processes: int | None = None


class Experiment(_Strict):
    name: Name
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
    defences: list[str] = Field(default_factory=list, description="inference-time defences crossed with every "
                                "model (prompt, ocr-text, caption; combined with +, e.g. prompt+caption): rows "
                                "<model>+<defence> beside the undefended ones; their settings (defence_text, "
                                "ocr_engine) go in generate")
    judges: list[JudgeSpec] = Field(default_factory=lambda: [JudgeSpec(name="keyword")], min_length=1)
    source_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="options of generated data sources (NAME:SET inputs), by source name, "
        "e.g. {world: {n_train: 4800}}")
    bootstrap: int = 1000
    jobs: int = Field(1, ge=1, description="stages run side by side (each with the same torch thread count as one "
                      "at a time, so results do not depend on jobs)")
    report: bool = True
    launch: LaunchSpec = Field(default_factory=LaunchSpec)

    @model_validator(mode="after")
    def _unique_labels(self) -> Experiment:
        labels = [b.label for b in self.branches] + [b.label for b in self.benches]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"duplicate labels: {sorted(dup)}")
        from ..generate.defences import defence_label, normalise_defences

        try:
            self.defences = [defence_label(normalise_defences(d)) for d in self.defences]
        except UnmaskError as exc:
            raise ValueError(f"defences: {exc}") from None
        if "" in self.defences or len(set(self.defences)) != len(self.defences):
            raise ValueError(f"defences: each defence once, none empty: {self.defences}")
        judges = [j.name for j in self.judges]
        if len(set(judges)) != len(judges):
            raise ValueError(f"judges: each judge once (its name is a folder name): {judges}")
        return self


_SWEEP_KEYS = set(MixSpec.model_fields)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+@-]")


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
            label = _UNSAFE.sub("_", label)[:100]  # a swept value may be a path: the label stays a name
            try:
                spec = MixSpec(**mix)
            except ValidationError as exc:
                err = exc.errors()[0]
                key = str(err["loc"][0]) if err["loc"] else "?"
                origin = f"sweep.{key}" if key in exp.sweep else f"mix.{key}"
                raise UnmaskError(f"{origin}: {short(mix.get(key))}: {err['msg']}") from None
            out.append(Branch(label=label, mix=spec, train=train))
    for br in out:
        _check_mix(exp, br)
    labels = [b.label for b in out]
    if len(set(labels)) != len(labels):
        raise UnmaskError(f"branches: duplicate labels {sorted({x for x in labels if labels.count(x) > 1})}")
    return out


def _check_mix(exp: Experiment, br: Branch) -> None:
    """Validate a branch's mix as ``unmask mix`` would, naming the YAML key (not the CLI flag) that is wrong."""
    if br.mix is None:
        return
    spec = br.mix.method_settings()
    if br.mix.refusal is not None:
        spec["refusals"] = [br.mix.refusal]
    try:
        MixConfig(**spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        flags = re.findall(r"--([a-z-]+)", msg) or [str(x) for x in err["loc"][:1]]
        key = flags[0].replace("-", "_") if flags else "mix"
        explicit = [i for i, b in enumerate(exp.branches) if b.label == br.label]
        origin = (f"sweep.{key}" if key in exp.sweep else
                  f"branches.{explicit[0]}.mix.{key}" if explicit else f"mix.{key}")
        msg = re.sub(r"--([a-z-]+)", lambda m: m.group(1).replace("-", "_"), msg)
        raise UnmaskError(f"{origin} (branch {br.label}): {msg}") from None


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
    """Load ``path`` (YAML) and apply ``key=value`` overrides (values parsed as YAML: 0.1, true, [0, 0.1]).

    Every problem (unreadable file, bad YAML, a document that is too large or too deep, a bad
    override, a key that is not a string, a setting out of range) is one :class:`UnmaskError` naming
    the file and the key."""
    path = Path(path)
    doc = load_yaml_file(path)
    if not isinstance(doc, dict):
        raise UnmaskError(f"{path}: an experiment is a YAML mapping")
    for ov in overrides or []:
        if "=" not in ov:
            raise UnmaskError(f"{path}: override {short(ov)}: expected key=value")
        key, raw = ov.split("=", 1)
        value = load_yaml_text(raw, f"{path}: override {short(ov)}")
        try:
            _set_dotted(doc, key.strip(), value)
        except (ValueError, IndexError, TypeError, AttributeError):
            raise UnmaskError(f"override {short(ov)}: no such place in {path}") from None
    _check_keys(doc, path)
    try:
        exp = Experiment(**doc)
    except ValidationError as exc:
        # An unknown key usually explains the missing one beside it (a typo): name it first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        msgs = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                for e in errors[:3]]
        raise UnmaskError(f"{path}: {'; '.join(msgs)}") from None
    return exp


def _check_keys(doc: Any, path: Path, at: str = "") -> None:
    """Every mapping key is a string (``1: x`` or ``true: x`` is a typo, not a setting)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if not isinstance(k, str):
                raise UnmaskError(f"{path}: {at}{short(k)}: a key must be a string, not {type(k).__name__}")
            _check_keys(v, path, f"{at}{k}.")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            _check_keys(v, path, f"{at}{i}.")
