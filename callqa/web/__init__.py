"""The supervisor web app (`callqa serve`): review queue, call review with audio and
evidence, score overrides, the exemplary-call library, operator scorecards.

`create_app(store_path, config=None)` builds the FastAPI app; FastAPI and the
templates load only when it is called."""

from __future__ import annotations

from typing import Any


def create_app(store_path: Any, config: Any = None, **kwargs: Any) -> Any:
    from .app import create_app as _create

    return _create(store_path, config, **kwargs)


__all__ = ["create_app"]
