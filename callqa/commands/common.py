"""Helpers shared by the sub-commands: configuration loading and progress."""

from __future__ import annotations

import sys
from functools import lru_cache

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@lru_cache(maxsize=1)
def console() -> Console:
    # Wide enough for tables when stdout is not a terminal (logs, CI).
    return Console(stderr=False, highlight=False, width=None if sys.stdout.isatty() else 140)


class ProgressHook:
    """Turns pipeline hooks (`hook(step, completed=, total=)`) into a progress bar."""

    def __init__(self, total: int, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), disable=not self.enabled)
        self.task = self.progress.add_task("calls", total=total)
        self.current = ""

    def __enter__(self) -> "ProgressHook":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def start_call(self, name: str) -> None:
        self.current = name
        self.progress.update(self.task, description=f"{name}")

    def hook(self, step: str, completed: int | None = None, total: int | None = None) -> None:
        extra = f" {completed}/{total}" if completed is not None and total else ""
        self.progress.update(self.task, description=f"{self.current}: {step}{extra}")

    def finish_call(self) -> None:
        self.progress.advance(self.task)
