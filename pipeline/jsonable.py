"""One serializer for everything that leaves the pipeline as JSON.

Stages compute with numpy and pathlib, so a result may hold `numpy.bool_`, `numpy.float32`,
arrays, paths, tuples, sets or dates. `to_plain` turns any of these into the plain types that
`json.dumps` writes (dict with str keys, list, str, int, float, bool, None); `dumps` is
`json.dumps` over it. Non-finite floats become None (JSON has no NaN).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import math
from pathlib import PurePath
from typing import Any

import numpy as np


def to_plain(x: Any) -> Any:
    """A copy of `x` made of JSON types only. Raises TypeError naming the type it cannot convert."""
    if x is None or isinstance(x, (str, bool, int)) and not isinstance(x, enum.Enum):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {_key(k): to_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        items = sorted(x, key=repr) if isinstance(x, (set, frozenset)) else x
        return [to_plain(v) for v in items]
    if isinstance(x, np.generic):  # numpy.bool_, integer and floating scalars, str_
        return to_plain(x.item())
    if isinstance(x, np.ndarray):
        return to_plain(x.tolist())
    if isinstance(x, enum.Enum):
        return to_plain(x.value)
    if isinstance(x, PurePath):
        return str(x)
    if isinstance(x, (_dt.datetime, _dt.date, _dt.time)):
        return x.isoformat()
    if isinstance(x, _dt.timedelta):
        return x.total_seconds()
    if hasattr(x, "serialize") and callable(x.serialize):
        return to_plain(x.serialize())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return to_plain(dataclasses.asdict(x))
    raise TypeError(f"cannot write {type(x).__module__}.{type(x).__qualname__} as JSON: {x!r:.80}")


def _key(k: Any) -> str:
    k = to_plain(k)
    return k if isinstance(k, str) else json.dumps(k)


def dumps(x: Any, **kwargs: Any) -> str:
    """`json.dumps(to_plain(x))`; keyword arguments as for json.dumps (ensure_ascii defaults to False)."""
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(to_plain(x), allow_nan=False, **kwargs)
