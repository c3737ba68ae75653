"""The front door: every command has a useful --help; errors are one line with exit code 2."""

from __future__ import annotations

import subprocess

import pytest
import typer

from unmask.cli import _register, app

_register()
COMMANDS = sorted(c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands)
GROUPS = sorted(g.name for g in app.registered_groups if g.name)


def test_core_commands_exist():
    for name in ("mix", "bias", "convert", "demo"):
        assert name in COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_useful_help(run_cli, name):
    code, out, err = run_cli(name, "--help")
    assert code == 0, err
    assert "Usage" in out and len(out.splitlines()) > 4
    cmd = typer.main.get_command(app).commands[name]
    assert cmd.help and len(cmd.help) > 20, f"{name}: write a real docstring"
    for param in cmd.params:
        if param.name != "help" and getattr(param, "param_type_name", "") == "option":
            assert param.help, f"unmask {name}: option --{param.name} has no help text"


def test_unknown_command_exits_2(run_cli):
    code, _, err = run_cli("no-such-command")
    assert code == 2 and "no-such-command" in err


def test_module_entry_point(unmask_cmd):
    res = subprocess.run([*unmask_cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "mix" in res.stdout


def test_debug_shows_traceback(run_cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    code, _, err = run_cli("mix", bad, "-o", tmp_path / "o.json", "--fraction", "0.1")
    assert code == 2 and "Traceback" not in err
    with pytest.raises(Exception, match="truncated|invalid"):
        from unmask.cli import main

        main(["--debug", "mix", str(bad), "-o", str(tmp_path / "o.json"), "--fraction", "0.1"])
