"""Errors the user sees. Each names the file and the problem; the CLI prints them
without a traceback."""

from __future__ import annotations

from pathlib import Path


class CallqaError(Exception):
    """Base class for errors that are the input's or the configuration's fault."""


class PathError(CallqaError):
    """A problem with one file or folder: `path: problem`."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class InputError(PathError):
    """A recording, transcript or metadata file that cannot be used."""


class ConfigError(CallqaError):
    """Invalid configuration; names the file and the key."""

    def __init__(self, file: str | Path, key: str, problem: str):
        self.file = str(file)
        self.key = key
        self.problem = problem
        super().__init__(f"{self.file}: {key}: {problem}")


class ModelUnavailable(CallqaError):
    """A configured model cannot be found or loaded offline."""
