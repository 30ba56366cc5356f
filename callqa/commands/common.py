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


def load_checked_config(user_file: str | None):
    """`load_config(user_file)` plus the checks that need the language pipelines (spaCy, pymorphy3), which
    `load_config` itself leaves out to stay fast: the configured categories' search queries. So a customer
    file's broken `categories.ID.query` fails here (exit 2, naming that file and key) before any call is
    processed, instead of failing every call of a batch at its analysis."""
    from callqa.pipeline.config import load_config
    from callqa.pipeline.errors import ConfigError
    from callqa.pipeline.scoring.categories import category_defs

    config = load_config(user_file)
    try:
        category_defs(config)
    except ConfigError as e:
        parts = e.key.split(".")
        if user_file and len(parts) >= 2 and _sets_category(user_file, parts[1]):
            raise ConfigError(user_file, e.key, e.problem) from None
        raise
    return config


def _sets_category(user_file: str, category_id: str) -> bool:
    """True when the customer's YAML defines `categories.<category_id>`."""
    import yaml

    try:
        with open(user_file, encoding="utf-8") as f:
            tree = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError):
        return False
    cats = tree.get("categories") if isinstance(tree, dict) else None
    return isinstance(cats, dict) and category_id in cats
