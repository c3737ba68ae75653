"""The experiment's stages (mix, train, attack, generate, judge, metrics, report) and the plan builder.

Each stage calls the same library function as its CLI command, writing into its own stage folder;
each is resumable on its own (journals for generate / judge, checkpoints for train, atomic files for
the rest), so a killed run picks up inside the interrupted stage.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from ..data.sources import SOURCES, split_ref
from ..data.store import atomic_write_bytes
from ..errors import UnmaskError
from .checks import validate_plan
from .config import Branch, Experiment, MixSpec
from .graph import Plan, Stage, stage

__all__ = ["PlannedRun", "build_plan", "validate_plan"]



def _source_dep(name: str) -> str:
    """The deps key of a generated source's export stage (its label is ``NAME-data``)."""
    return f"source:{name}"


# ------------------------------------------------------------------------------------------ plan
def _source(ref: str | None, st: Stage, role: str) -> None:
    """Record a data reference on a stage: a file (hashed by content) or a generated source's data set
    (``NAME:SET``, :mod:`unmask.data.sources`)."""
    split = None if ref is None else split_ref(ref)
    if ref is None:
        st.params[role] = None
    elif split is not None:
        st.params[role] = ref
        st.deps[_source_dep(split[0])] = f"{split[0]}-data"
    else:
        st.params[role] = f"file:{len(st.files)}"
        st.files.append(ref)


def _mix_stage(exp: Experiment, br: Branch) -> Stage:
    assert br.mix is not None
    spec = br.mix.model_dump()
    if spec["refusal"] is None:  # not set: the stage key stays what it was before the field existed
        del spec["refusal"]
    st = Stage("mix", f"mix/{br.label}", {"mix": spec, "seed": exp.seed, "format": exp.data.format})
    st.params["sources"] = []
    for i, src in enumerate(exp.data.sources):
        _source(src, st, f"source{i}")
        st.params["sources"].append(st.params.pop(f"source{i}"))
    _source(exp.data.refusal_source if br.mix.use_refusal_source else None, st, "refusal_source")
    _source(exp.data.curated if br.mix.curated else None, st, "curated")
    _source(br.mix.refusals, st, "refusals")
    if exp.data.image_root:
        st.params["image_root"] = exp.data.image_root
    if br.mix.curated and exp.data.curated_images:
        st.params["curated_images"] = exp.data.curated_images
    if br.mix.curated and exp.data.curated_layout != "auto":
        st.params["curated_layout"] = exp.data.curated_layout
    return st


@dataclass
class PlannedRun:
    plan: Plan
    branches: list[Branch]
    metrics: list[str]  # labels of the metrics stages, in report order


_DEFENCE_SETTINGS = ("defence_text", "ocr_engine")  # generate settings only a defended stage reads


def build_plan(exp: Experiment) -> PlannedRun:
    """Expand the experiment into stages, listed in dependency order."""
    branches = validate_plan(exp)
    stages: list[Stage] = []
    refs = [*exp.data.sources, exp.data.refusal_source or "", exp.data.curated or "", *(b.input for b in exp.benches)]
    for name in sorted({split[0] for r in refs if (split := split_ref(r)) is not None}):
        stages.append(Stage("source-data", f"{name}-data",
                            {"source": name, "seed": exp.seed, "options": exp.source_options.get(name, {}),
                             "code": SOURCES.get(name).version()}))
    model = exp.model.model_dump()
    for b in exp.benches:
        st = Stage("attack", f"attack/{b.label}", {"kind": b.kind, "loader": b.loader, "options": b.options,
                                                   **({"check_ocr": b.check_ocr} if b.check_ocr else {})})
        _source(b.input, st, "input")
        stages.append(st)
    for br in branches:
        if br.mix is None:
            continue
        mix = _mix_stage(exp, br)
        settings = {**exp.train, **br.train}
        train = Stage("train", f"train/{br.label}", {"model": model, "train": settings, "seed": exp.seed,
                                                     "image_root": _records_image_root(exp),
                                                     "launch": exp.launch.model_dump()}, deps={"data": mix.label})
        for dep, label in mix.deps.items():  # generated data's image paths resolve under its export folder
            if dep.startswith("source:"):
                train.deps[dep] = label
        stages += [mix, train]
    metrics_labels = []
    # Each model crossed with each defence (none first): rows <branch>+<defence> beside the undefended ones.
    for br, defence in ((br, d) for br in branches for d in [None, *exp.defences]):
        name = br.label if defence is None else f"{br.label}+{defence}"
        for b in exp.benches:
            settings = {**exp.generate, **b.generate}
            if defence is not None:
                settings["defences"] = defence.split("+")
            else:  # undefended stages keep their keys, whatever the defences' settings
                settings = {k: v for k, v in settings.items() if k not in _DEFENCE_SETTINGS}
            gen = Stage("generate", f"generate/{name}/{b.label}", {"model": model, "generate": settings},
                        deps={"bench": f"attack/{b.label}"})
            if br.mix is not None:
                gen.deps["adapter"] = f"train/{br.label}"
            stages.append(gen)
            for j in exp.judges:
                jst = Stage("judge", f"judge/{name}/{b.label}/{j.name}", {"judge": j.model_dump()},
                            deps={"generations": gen.label, "bench": f"attack/{b.label}"})
                labels = {"model": name, "bench": b.label, "attack": b.kind,
                          "method": _method(br), "fraction": _fraction(br),
                          **({"defence": defence} if defence is not None else {})}
                mst = Stage("metrics", f"metrics/{name}/{b.label}/{j.name}",
                            {"labels": labels, "bootstrap": exp.bootstrap, "seed": exp.seed},
                            deps={"verdicts": jst.label, "generations": gen.label, "bench": f"attack/{b.label}"})
                stages += [jst, mst]
                metrics_labels.append(mst.label)
    return PlannedRun(Plan(stages), branches, metrics_labels)


def _records_image_root(exp: Experiment) -> str | None:
    """Where the mixed records' image paths resolve: data.image_root, else the folder of the file sources
    (a mix copies the paths as they are; the stage folder it is written to holds no images)."""
    if exp.data.image_root:
        return exp.data.image_root
    if any(split_ref(s) is not None for s in exp.data.sources):
        return None  # generated data: the train stage finds the export's image folder itself
    parents = {str(Path(s).parent) for s in exp.data.sources}
    return parents.pop() if len(parents) == 1 else None


def _method(br: Branch) -> str:
    if br.mix is None:
        return "base"
    if br.mix.curated:
        return "curated"
    return "mix"


def _fraction(br: Branch) -> float | None:
    if br.mix is None:
        return 0.0
    if br.mix.fraction is not None:
        return br.mix.fraction
    if br.mix.rejections is not None and br.mix.keep is not None:
        # refusal records (benign refusals, or curated ones for the curated baseline) over all records
        refusals = br.mix.rejections + ((br.mix.curated_count or 0) if br.mix.curated else 0)
        total = br.mix.rejections + br.mix.keep + ((br.mix.curated_count or 0) if br.mix.curated else 0)
        return refusals / total if total else None
    return None


def _resolve(ref: str | None, st: Stage, deps: dict[str, Path]) -> str | None:
    if ref is None:
        return None
    if ref.startswith("file:"):
        return st.files[int(ref.removeprefix("file:"))]
    split = split_ref(ref)
    if split is not None:
        folder = deps[_source_dep(split[0])]
        index = orjson.loads((folder / "index.json").read_bytes())
        if split[1] not in index:
            raise UnmaskError(f"{ref}: data source {split[0]!r} has no data set {split[1]!r} "
                              f"(it has {', '.join(sorted(index))})")
        return str(folder / index[split[1]])
    return ref


@stage("source-data")
def _source_data(st: Stage, out: Path, deps: dict[str, Path], ctx: Any) -> None:
    src = SOURCES.get(st.params["source"])
    index = src.export(out / "data", seed=st.params["seed"], **st.params["options"])
    atomic_write_bytes(out / "index.json", orjson.dumps({k: str(Path("data") / Path(v).relative_to(out / "data"))
                                                         for k, v in index.items()}))


@stage("mix")
def _mix(st: Stage, out: Path, deps: dict[str, Path], ctx: Any) -> None:
    from ..mix.refusals import load_bank
    from ..mix.run import make_config, run_mix

    mix = MixSpec(**st.params["mix"])
    spec = mix.method_settings()
    refusals = _resolve(st.params["refusals"], st, deps)
    refusal = mix.refusal
    if refusals and refusal:
        raise UnmaskError("mix: give refusals (a bank file) or refusal (one sentence), not both")
    if refusals:
        spec["refusals"] = load_bank(refusals)
    elif refusal:
        spec["refusals"] = [refusal]
    cfg = make_config(seed=st.params["seed"], **spec)
    sources = [_resolve(s, st, deps) for s in st.params["sources"]]
    run_mix(sources, out / "mix.json", cfg, fmt=st.params["format"], image_root=st.params.get("image_root"),
            refusal_source=_resolve(st.params["refusal_source"], st, deps),
            curated=_resolve(st.params["curated"], st, deps), refusal_bank_path=refusals,
            curated_images=st.params.get("curated_images"), curated_layout=st.params.get("curated_layout", "auto"))


@stage("train")
def _train(st: Stage, out: Path, deps: dict[str, Path], ctx: Any) -> None:
    from ..models.train import TrainConfig, train

    model_dir = out / "model"
    if model_dir.exists():  # finished, but killed before the stage was marked done
        return
    data = deps["data"] / "mix.json"
    m = st.params["model"]
    settings = {"seed": st.params["seed"], **st.params["train"]}
    image_root = st.params.get("image_root") or str(_data_image_root(data, deps))
    cfg = TrainConfig(data=str(data), model=m["name"], family=m["family"], trust_remote_code=m["trust_remote_code"],
                      out=str(model_dir), image_root=image_root, resume=True, **settings)
    launch = st.params["launch"]
    if launch["accelerate"]:
        cfg_file = out / "train_config.yaml"
        atomic_write_bytes(cfg_file, yaml.safe_dump(cfg.model_dump(mode="json")).encode())
        cmd = [sys.executable, "-m", "accelerate.commands.launch"]
        if launch.get("config_file"):
            cmd += ["--config_file", launch["config_file"]]
        if launch.get("num_processes"):
            cmd += ["--num_processes", str(launch["num_processes"])]
        cmd += ["-m", "unmask", "train", str(data), "--config", str(cfg_file)]
        res = subprocess.run(cmd)
        if res.returncode != 0:
            raise UnmaskError(f"train/{st.label}: accelerate launch exited with {res.returncode}")
    else:
        train(cfg)


def _data_image_root(data: Path, deps: dict[str, Path]) -> Path:
    # Mixes of generated data keep its image paths, relative to the export folder.
    for dep, folder in deps.items():
        if dep.startswith("source:"):
            return folder / "data"
    return data.parent


@stage("attack")
def _attack(st: Stage, out: Path, deps: dict[str, Path], ctx: Any) -> None:
    from ..attacks import build_benchmark

    bench = out / "bench"
    if bench.exists():
        shutil.rmtree(bench)
    opts = dict(st.params["options"])
    build_benchmark(st.params["kind"], _resolve(st.params["input"], st, deps), bench, loader=st.params["loader"],
                    **opts)
    if st.params.get("check_ocr"):  # the images' legibility, measured where they were made
        from ..attacks.ocr import check_ocr

        check_ocr(bench, st.params["check_ocr"])


@stage("generate")
def _generate(st: Stage, out: Path, deps: dict[str, Path], ctx: Any) -> None:
    from ..generate import GenerateConfig, generate

    m = st.params["model"]
    adapter = str(deps["adapter"] / "model") if "adapter" in deps else None
    settings = {"progress": False, **st.params["generate"]}
    cfg = GenerateConfig(model=m["name"], family=m["family"], trust_remote_code=m["trust_remote_code"],
                         adapter=adapter, bench=str(deps["bench"] / "bench"), out=str(out / "generations.jsonl"),
                         **settings)
    generate(cfg)


@stage("judge")
def _judge(st: Stage, out: Path, deps: dict[str, Path], ctx: Any) -> None:
    from ..judges import get_judge
    from ..judges.run import run_judge

    spec = st.params["judge"]
    j = get_judge(spec["name"], **spec["options"])
    run_judge(deps["generations"] / "generations.jsonl", j, out / "verdicts.jsonl",
              samples=deps["bench"] / "bench" / "samples.jsonl")


@stage("metrics")
def _metrics(st: Stage, out: Path, deps: dict[str, Path], ctx: Any) -> None:
    from ..metrics import compute_metrics
    from ..metrics.core import read_verdicts
    from ..metrics.sources import metric_sources

    rows = read_verdicts([deps["verdicts"] / "verdicts.jsonl"])
    doc = compute_metrics(rows, st.params["labels"], bootstrap=st.params["bootstrap"], seed=st.params["seed"])
    # Relative to the run folder (out is RUN/.stages/metrics-<key>): the report finds the samples from
    # RUN/results/... too, where this file is linked.
    doc["sources"] = metric_sources([deps["verdicts"] / "verdicts.jsonl"], out.parent.parent,
                                    generations=[deps["generations"] / "generations.jsonl"],
                                    samples=[deps["bench"] / "bench" / "samples.jsonl"])
    if "defence" in st.params["labels"]:  # an inference-time defence ran: its cost beside its rates
        from ..data.store import read_jsonl
        from ..generate.defences import cost_summary

        doc["defence_cost"] = cost_summary(read_jsonl(deps["generations"] / "generations.jsonl"))
    atomic_write_bytes(out / "metrics.json", orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
