"""The command line's manners: --version, --debug anywhere, flags shown as flags, shell completion, progress
lines that suit a log file, library deprecation noise hidden, YAML configs for train and generate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from unmask.cli import _register, app
from unmask.cli.manners import debug_anywhere

_register()


def _env(**extra: str) -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]), **extra}


def test_version(run_cli):
    from importlib.metadata import version

    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"unmask {version('unmask')}"


def test_debug_after_the_command_works_as_before_it(run_cli, tmp_path):
    from unmask.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    argv = ["mix", str(bad), "-o", str(tmp_path / "o.json"), "--fraction", "0.1"]
    code, _, err = run_cli(*argv)
    assert code == 2 and "Traceback" not in err
    for where in (["--debug", *argv], [*argv, "--debug"], [*argv[:2], "--debug", *argv[2:]]):
        with pytest.raises(Exception, match="truncated|invalid"):  # the traceback, not "no such option"
            main(where)
    assert debug_anywhere(["judge", "x", "--", "--debug"]) == (["judge", "x", "--", "--debug"], False)


def _commands() -> list[tuple[list[str], typer.core.TyperCommand]]:
    root = typer.main.get_command(app)
    out = [([], root)]
    for name, cmd in root.commands.items():
        out.append(([name], cmd))
        for sub, subcmd in getattr(cmd, "commands", {}).items():
            out.append(([name, sub], subcmd))
    return out


@pytest.mark.parametrize("path", [p for p, _ in _commands()], ids=lambda p: " ".join(p) or "unmask")
def test_flags_are_shown_as_flags(run_cli, path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = run_cli(*path, "--help")
    assert code == 0, err
    assert "<bool>" not in out and "BOOLEAN" not in out, f"unmask {' '.join(path)}: a flag shows a value type"


def test_every_boolean_option_is_a_flag():
    for path, cmd in _commands():
        for p in cmd.params:
            if getattr(p, "param_type_name", "") == "option" and p.type_descriptor.annotation is bool:
                assert p.is_flag, f"unmask {' '.join(path)} {p.opts}: takes a true/false value; make it a flag"


def test_completion_script_for_bash(run_cli):
    code, out, _ = run_cli("--show-completion", "bash")
    assert code == 0 and "_unmask_completion" in out and "complete " in out
    # the script's callback answers: the commands and their options complete
    res = subprocess.run([sys.executable, "-m", "unmask"], capture_output=True, text=True, timeout=60,
                         env=_env(_UNMASK_COMPLETE="complete_bash", COMP_WORDS="unmask generate --sa", COMP_CWORD="2"))
    assert res.stdout.split() == ["--sample"], res.stderr


def test_library_future_warnings_hidden_unless_debug(tmp_path):
    """A third-party module's FutureWarning (as transformers' deprecations) stays out of a command's output."""
    (tmp_path / "noisy_lib.py").write_text("import warnings\nwarnings.warn('old API goes away', FutureWarning)\n")
    cmd = [sys.executable, "-m", "unmask", "attack", "--list", "--plugin", "noisy_lib"]
    env = _env(PYTHONPATH=os.pathsep.join([str(tmp_path), _env()["PYTHONPATH"]]), PYTHONWARNINGS="")
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert quiet.returncode == 0 and "figstep" in quiet.stdout, quiet.stderr
    assert "FutureWarning" not in quiet.stderr + quiet.stdout
    loud = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, timeout=120, env=env)
    assert "FutureWarning: old API goes away" in loud.stderr


def test_transformers_deprecation_hidden_in_train_unless_debug(tmp_path, monkeypatch):
    """The real thing: transformers' FutureWarning on gradient_checkpointing_enable, from `unmask train`; and its
    progress written to a pipe is plain lines."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "reliability"))
    from crashstages import write_llava

    from unmask.models.testing import make_tiny_checkpoint

    write_llava(tmp_path / "d.json", 8, images=2, seed=1)
    make_tiny_checkpoint("llava", tmp_path / "model")
    cmd = [sys.executable, "-m", "unmask", "train", str(tmp_path / "d.json"), "--model", str(tmp_path / "model"),
           "--max-steps", "2", "--batch-size", "2", "--gradient-checkpointing"]
    quiet = subprocess.run([*cmd, "-o", str(tmp_path / "a")], capture_output=True, text=True, timeout=600,
                           env=_env(UNMASK_PROGRESS_EVERY="0"))
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "Warning" not in quiet.stderr
    # stderr is a pipe: plain progress lines instead of tqdm's \r-redrawn bar
    assert "\r" not in quiet.stderr and "  train step 1/2 (50%)" in quiet.stderr and ", ETA " in quiet.stderr
    loud = subprocess.run([*cmd, "-o", str(tmp_path / "b"), "--debug", "--no-progress"], capture_output=True,
                          text=True, timeout=600, env=_env())
    assert "train step" not in loud.stderr
    assert loud.returncode == 0 and "transformers" in loud.stderr and "FutureWarning" in loud.stderr


def test_plain_progress_lines_have_eta_and_no_carriage_return(monkeypatch, capsys):
    from unmask import console

    monkeypatch.setenv("UNMASK_PROGRESS", "plain")
    monkeypatch.setenv("UNMASK_PROGRESS_EVERY", "0")
    console.set_stage("train/mix-0.1")
    try:
        with console.ticker("train step", 4, done=1) as tick:
            for _ in range(3):
                tick.advance()
    finally:
        console.set_stage(None)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("  train/mix-0.1: train step 2/4 (50%), ") and ", ETA " in lines[0]
    assert lines[-1].startswith("  train/mix-0.1: train step 4/4 (100%)") and "ETA" not in lines[-1]
    monkeypatch.delenv("UNMASK_PROGRESS")
    with console.ticker("train step", 4) as tick:  # library use, no command line asking: silent
        tick.advance(4)
    assert capsys.readouterr().err == ""


EXPERIMENT = """name: progress-check
model: {name: tiny}
data: {sources: ["world:train"]}
benches:
  - {label: harmful-typo, kind: world-typo, input: "world:harmful", options: {limit: 4}}
generate: {max_new_tokens: 3, batch_size: 2, progress: false}
judges: [{name: keyword}]
bootstrap: 20
"""


def test_redirected_run_writes_progress_lines_not_carriage_returns(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    log = tmp_path / "stderr.log"
    with log.open("wb") as fh:
        res = subprocess.run([sys.executable, "-m", "unmask", "run", str(exp), "-o", str(tmp_path / "run")],
                             stdout=subprocess.DEVNULL, stderr=fh, timeout=600, env=_env(UNMASK_PROGRESS_EVERY="0"))
    text = log.read_bytes()
    assert res.returncode == 0, text[-2000:]
    assert b"\r" not in text and b"\x1b[" not in text
    lines = text.decode().splitlines()
    assert "  generate/base/harmful-typo: generate batch 2/2 (100%)" in "\n".join(lines)
    assert any(ln.startswith("  generate/base/harmful-typo: generate batch 1/2 (50%)") and "ETA" in ln for ln in lines)
    assert any(ln.startswith("  judge/base/harmful-typo/keyword: judge row 4/4 (100%)") for ln in lines)


def _captured(monkeypatch, module: str, name: str) -> list:
    import importlib

    seen: list = []
    monkeypatch.setattr(importlib.import_module(module), name, lambda cfg: seen.append(cfg) or Path("x"))
    return seen


def test_generate_reads_a_yaml_config_and_options_win(run_cli, monkeypatch, tmp_path):
    seen = _captured(monkeypatch, "unmask.generate", "generate")
    cfg = tmp_path / "gen.yaml"
    cfg.write_text("model: tiny\nbench: b\nout: %s\nmax-new-tokens: 7\nsample: true\ntemperature: 0.5\n"
                   "batch_size: 4\ntimeout: 9\n" % (tmp_path / "g.jsonl"))
    code, _, err = run_cli("generate", "--config", cfg, "--batch-size", "2")
    assert code == 0, err
    c = seen[0]
    assert (c.model, c.max_new_tokens, c.do_sample, c.temperature, c.batch_size, c.timeout_s) == \
        ("tiny", 7, True, 0.5, 2, 9.0)
    assert (c.top_p, c.seed, c.dtype, c.progress) == (1.0, 0, "float32", True)  # untouched: the config's defaults
    code, _, err = run_cli("generate", "--config", cfg, "--no-progress", "-m", "other")
    assert code == 0 and (seen[1].progress, seen[1].model) == (False, "other")


def test_generate_config_errors_are_one_line_exit_2(run_cli, tmp_path):
    cfg = tmp_path / "gen.yaml"
    cfg.write_text("model: tiny\nbench: b\nout: o.jsonl\nmax_new_token: 7\n")
    code, _, err = run_cli("generate", "--config", cfg)
    assert code == 2 and err.strip() == f"error: {cfg}: max-new-token: Extra inputs are not permitted"
    code, _, err = run_cli("generate", "--bench", "b", "-o", tmp_path / "o.jsonl")
    assert code == 2 and "--model: required" in err


def test_train_reads_a_yaml_config_and_options_win(run_cli, monkeypatch, tmp_path):
    seen = _captured(monkeypatch, "unmask.models.train", "train")
    cfg = tmp_path / "train.yaml"
    cfg.write_text("model: tiny\nlr: 0.001\nmax_steps: 5\nformat: llava\nno_eos_on_refusal: true\n")
    code, _, err = run_cli("train", tmp_path / "d.json", "--config", cfg, "--max-steps", "2", "-o", tmp_path / "o")
    assert code == 0, err
    c = seen[0]
    assert (c.model, c.lr, c.max_steps, c.data_format, c.no_eos_on_refusal) == ("tiny", 0.001, 2, "llava", True)
    cfg.write_text("model: tiny\nlearning_rate: 0.001\n")
    code, _, err = run_cli("train", tmp_path / "d.json", "--config", cfg)
    assert code == 2 and f"{cfg}: learning-rate: Extra inputs are not permitted" in err
