"""Shared test helpers."""

from __future__ import annotations

import os
import sys

import pytest

# Tests share a 2-core machine; keep torch from oversubscribing it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def run_cli(capsys):
    """Run ``unmask ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from unmask.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def unmask_cmd():
    """The command prefix for running unmask in a subprocess (works in any venv)."""
    return [sys.executable, "-m", "unmask"]
