"""Checks of an experiment before any stage runs (``unmask run --dry-run`` is these): the model, every bench's
kind, loader and options, each branch's mix and train settings, the generate settings, judges and defences.
Errors name the YAML key."""

from __future__ import annotations

from pathlib import Path

from ..data.sources import SOURCES, split_ref
from ..errors import UnmaskError
from .config import Branch, Experiment, expand_branches

__all__ = ["validate_plan"]


def validate_plan(exp: Experiment) -> list[Branch]:
    """Check, before any stage runs or any input is hashed, everything a run would otherwise fail on later
    (so ``--dry-run`` catches it): the model path, every bench's kind, loader and options, every branch's
    mix and train settings, the generate settings and the judges. Errors name the YAML key. Returns the
    branches."""
    from ..models.train import TrainConfig

    _validate_inputs(exp)
    branches = expand_branches(exp)
    for br in branches:
        if br.mix is None:
            continue
        if br.mix.curated and not exp.data.curated:
            raise UnmaskError(f"branch {br.label}: mix.curated needs data.curated (a VLGuard train JSON)")
        try:  # unknown keys are errors now, not an hour into the run
            TrainConfig(data="-", model=exp.model.name, out="-", **{**exp.train, **br.train})
        except Exception as exc:
            raise UnmaskError(f"branch {br.label}: train: {_first_error(exc)}") from None
    _validate_eval_settings(exp)
    for b in exp.benches:
        if b.check_ocr:
            from ..attacks.ocr import engine_available

            problem = engine_available(b.check_ocr) if b.check_ocr in ("tesseract", "rapidocr") else \
                f"unknown OCR engine {b.check_ocr!r} (tesseract or rapidocr)"
            if problem:
                raise UnmaskError(f"benches.{b.label}.check_ocr: {problem}")
    _validate_defences(exp, branches)
    return branches


def _validate_defences(exp: Experiment, branches: list[Branch]) -> None:
    """Rows <branch>+<defence> are names of their own; the ocr-text defence's engine is installed; defences are
    the axis, not a generate setting (that would defend every row under an undefended name)."""
    for where_, settings in [("generate", exp.generate), *((f"benches.{b.label}.generate", b.generate)
                                                           for b in exp.benches)]:
        if "defences" in settings:
            raise UnmaskError(f"{where_}.defences: list defences at the top level (defences: [...]), which "
                              "crosses them with every model")
    names = [b.label for b in branches] + [f"{b.label}+{d}" for b in branches for d in exp.defences]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise UnmaskError(f"defences: the rows {dup} would be two models at once (rename the branch)")
    if any("ocr-text" in d.split("+") for d in exp.defences):
        from ..attacks.ocr import engine_available

        engine = str(exp.generate.get("ocr_engine", "tesseract"))
        problem = engine_available(engine)
        if problem:
            raise UnmaskError(f"defences: ocr-text: {problem}")


_BUILD_OPTIONS = ("limit", "workers", "force", "images", "subset")  # build_benchmark's own; the rest go to the kind


def _validate_inputs(exp: Experiment) -> None:
    """What a run would fail on later, checked at plan time (so --dry-run catches it), naming the YAML key."""
    from ..attacks import get_attack, get_loader
    from ..models.loading import _check_local, _looks_like_path
    from ..models.registry import builtin_family

    name = exp.model.name
    local = Path(name).expanduser()
    if builtin_family(name) is None:
        if local.exists():
            try:
                _check_local(local)
            except UnmaskError as exc:
                raise UnmaskError(f"model.name: {exc}") from None
        elif _looks_like_path(name):
            raise UnmaskError(f"model.name: {name!r}: no such model folder")
    if exp.model.family is not None:
        from ..models.registry import get_family

        try:
            get_family(exp.model.family)
        except UnmaskError as exc:
            raise UnmaskError(f"model.family: {exc}") from None
    refs = [*((f"data.sources.{i}", r) for i, r in enumerate(exp.data.sources)),
            ("data.refusal_source", exp.data.refusal_source), ("data.curated", exp.data.curated),
            *((f"benches.{i}.input", b.input) for i, b in enumerate(exp.benches))]
    for key, ref in refs:
        prefix, sep, _ = (ref or "").partition(":")
        if sep and prefix.isidentifier() and len(prefix) > 1 and split_ref(ref) is None and not Path(ref).exists():
            raise UnmaskError(f"{key}: {ref!r}: no such file, and {prefix!r} is not a data source "
                              f"(registered: {', '.join(SOURCES.names()) or 'none'}; a plugin may add one)")
    for i, b in enumerate(exp.benches):
        opts = {k: v for k, v in b.options.items() if k not in _BUILD_OPTIONS}
        try:
            get_attack(b.kind, **opts)
            if b.loader is not None:
                get_loader(b.loader)
        except UnmaskError as exc:
            raise UnmaskError(f"benches.{i} ({b.label}): {exc}") from None
        except TypeError as exc:
            raise UnmaskError(f"benches.{i} ({b.label}): options: {exc}") from None


def _validate_eval_settings(exp: Experiment) -> None:
    from ..generate import GenerateConfig
    from ..judges import get_judge

    for where_, settings in [("generate", exp.generate),
                             *((f"benches.{b.label}.generate", {**exp.generate, **b.generate}) for b in exp.benches)]:
        try:
            GenerateConfig(model=exp.model.name, bench="-", out="-", **settings)
        except Exception as exc:
            raise UnmaskError(f"{where_}: {_first_error(exc)}") from None
    for j in exp.judges:
        try:
            get_judge(j.name, **j.options).close()
        except UnmaskError as exc:
            raise UnmaskError(f"judges: {j.name}: {exc}") from None
        except TypeError as exc:
            raise UnmaskError(f"judges: {j.name}: {exc}") from None


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        err = errors()[0]
        return f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
    return str(exc)


# ------------------------------------------------------------------------------------ stage bodies
