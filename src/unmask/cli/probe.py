"""``unmask probe``: is harm linearly readable in the typography route, before and after a fine-tune?"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UnmaskError
from .root import app

__all__: list[str] = []


def _adapter(spec: str) -> tuple[str, str]:
    label, sep, path = spec.partition("=")
    if not sep:
        label, path = Path(spec).name or spec, spec
    if not Path(path).is_dir():
        raise UnmaskError(f"--adapter {spec}: no such adapter folder")
    return label, path


@app.command("probe")
def probe_cmd(
    model: str = typer.Argument("tiny", help="Base model: a local folder, a hub id or a family's built-in "
                                "model (the world plugin's tiny)."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder to write: probe.json, probe_auroc.png, manifest.json."),
    adapter: Optional[list[str]] = typer.Option(None, "--adapter", help="A fine-tune to probe beside the base: "
                                                "LABEL=FOLDER or FOLDER (LoRA adapter). Repeatable."),
    request_set: Optional[str] = typer.Option(None, "--set", help="Request sets a plugin provides, text and "
                                              "typography (the world plugin's: world)."),
    set_seed: int = typer.Option(0, "--set-seed", help="Seed of the --set requests' wordings and renders."),
    text: Optional[Path] = typer.Option(None, "--text", help="Text benchmark folder (`unmask attack text`)."),
    typo: Optional[Path] = typer.Option(None, "--typo", help="Typographic benchmark folder on the same questions "
                                        "(`unmask attack figstep` etc.)."),
    family: Optional[str] = typer.Option(None, "--family", help="Model family (default: detected)."),
    processor: Optional[str] = typer.Option(None, "--processor", help="Processor folder, if not the model's."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda if present)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run the model's own Python code."),
    method: str = typer.Option("diffmean", "--method", help="diffmean (difference of class means) or logistic "
                               "(L2 logistic regression)."),
    folds: int = typer.Option(5, "--folds", help="Folds (by topic) for the out-of-fold text AUROC."),
    batch_size: int = typer.Option(16, "--batch-size", help="Requests per forward pass."),
    refusal_token: str = typer.Option("I", "--refusal-token", help="The refusal's opening word; its first token's "
                                      "log-odds at the first reply position are reported."),
    system: Optional[str] = typer.Option(None, "--system-prompt", help="System prompt (benchmark folders only)."),
    n_boot: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the intervals."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists and is not empty."),
) -> None:
    """Fit a harmful-vs-benign direction on text requests per layer; score the typographic twins with it."""
    import torch

    from ..data.outputs import check_output
    from ..probe import run_probe

    check_output(out, [text, typo], kind="folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise UnmaskError(f"{out}: already exists; pass --force to replace it")
    if folds < 2:
        raise UnmaskError("--folds must be at least 2")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    doc = run_probe(out, model=model, adapters=[_adapter(a) for a in adapter or []], request_set=request_set,
                    set_seed=set_seed, text_bench=text, typo_bench=typo, family=family, processor=processor,
                    dtype=dtype, device=device, trust_remote_code=trust_remote_code, method=method, folds=folds,
                    batch_size=batch_size, refusal_token=refusal_token, system=system, n_boot=n_boot, seed=seed,
                    log=lambda m: typer.echo(m, err=True))
    for label, block in doc["models"].items():
        best = block["layers"][block["best_text_layer"]]
        lo = block["logodds"]
        typer.echo(f"{label}: layer {best['layer']}: text AUROC {best['text_auroc']['value']:.3f}, typography AUROC "
                   f"(text direction) {best['typo_auroc']['value']:.3f} {_ci(best['typo_auroc']['ci'])}; refusal "
                   f"log-odds AUROC text {lo['text']['auroc']['value']:.3f}, typography "
                   f"{lo['typo']['auroc']['value']:.3f}")
    typer.echo(f"-> {out}/probe.json, {out}/probe_auroc.png")


def _ci(ci: list[float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
