"""Fixtures of the reliability suite: one fork server for the crash trials, shared by the session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def crash_runner():
    from crashlib import Runner

    runner = Runner("fork")
    runner.warm()
    return runner


@pytest.fixture(scope="session")
def crash_root(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("crash-trials")
