"""What a command's processes show on stderr besides their results: a progress line per long stage (its own
step counter and ETA) and no third-party deprecation noise.

The command line switches these on (:func:`show_progress`, :func:`quiet_library_warnings`); the settings
travel in environment variables, so that the stage runner's spawned worker processes follow them too.
Progress goes to stderr only and never into an output file. On a terminal it is a live rich bar (in the
main process; a worker process of ``--jobs N`` writes plain lines, as several live bars in separate
processes would overwrite each other); redirected to a file it is a plain line now and then, never ``\\r``.
Library code reports with :func:`ticker`; without the command line switching progress on it is silent.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from typing import Any

__all__ = ["Ticker", "progress_on", "quiet_library_warnings", "set_stage", "show_progress", "ticker"]

_PROGRESS = "UNMASK_PROGRESS"  # "live" (stderr is a terminal) or "plain"; unset: no progress
_EVERY = "UNMASK_PROGRESS_EVERY"  # plain mode: seconds between lines (default 10)
_QUIET = "UNMASK_QUIET_WARNINGS"
_stage: dict[str, str | None] = {"label": None}


def show_progress(on: bool = True) -> None:
    """Switch stage progress on for this process and the worker processes it starts."""
    if on:
        os.environ[_PROGRESS] = "live" if sys.stderr.isatty() else "plain"
    else:
        os.environ.pop(_PROGRESS, None)


def progress_on() -> bool:
    """Whether the command line asked for stage progress."""
    return os.environ.get(_PROGRESS) in ("live", "plain")


def set_stage(label: str | None) -> None:
    """Name the stage this process runs now; tickers started meanwhile carry its label."""
    _stage["label"] = label


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Ticker:
    """Progress of one loop: ``advance(n)`` as work finishes, ``close()`` at the end (or use ``with``)."""

    def __init__(self, unit: str, total: int, done: int = 0):
        self.what = f"{_stage['label']}: {unit}" if _stage["label"] else unit
        self.total, self.done, self._start_done = total, done, done
        self.t0 = self._last = time.monotonic()
        self.every = float(os.environ.get(_EVERY) or 10)
        self._bar: Any = None
        live = os.environ.get(_PROGRESS, "live" if sys.stderr.isatty() else "plain") == "live" and _main_process()
        if live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task(self.what, total=total, completed=done)
            self._bar.start()

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        pct = 100 * self.done / self.total if self.total else 100.0
        text = f"  {self.what} {self.done}/{self.total} ({pct:.0f}%), {_clock(elapsed)} elapsed"
        ran = self.done - self._start_done
        if 0 < ran and self.done < self.total:
            text += f", ETA {_clock(elapsed / ran * (self.total - self.done))}"
        return text

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.advance(self._task, n)
            return
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            print(self.line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Ticker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def ticker(unit: str, total: int, done: int = 0, *, always: bool = False) -> Ticker | _Silent:
    """A :class:`Ticker` when the command line asked for progress (``unmask run`` / ``demo``) or ``always`` (a
    command's own progress, e.g. ``unmask train`` with its stderr redirected), else a silent one."""
    if (always or progress_on()) and total > 0:
        return Ticker(unit, total, done)
    return _Silent()


def _main_process() -> bool:
    import multiprocessing

    return multiprocessing.parent_process() is None


# Libraries that announce their own future API changes (transformers' deprecations, torch's, ...): news for
# the people who call those APIs (unmask's developers: ``--debug`` and the tests show them), noise for users.
_THIRD_PARTY = r"(?!unmask(\.|$))"


def quiet_library_warnings(on: bool = True) -> None:
    """Hide FutureWarning / DeprecationWarning raised in modules other than unmask's own, in this process and
    (``on``) in the worker processes it starts; ``quiet_library_warnings(False)`` only stops the passing on."""
    if not on:
        os.environ.pop(_QUIET, None)
        return
    os.environ[_QUIET] = "1"
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=_THIRD_PARTY)


def follow_parent() -> None:
    """In a worker process: apply the settings the parent's command line chose."""
    if os.environ.get(_QUIET):
        quiet_library_warnings()
