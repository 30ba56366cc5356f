"""One serializer for call results (issue 9): numpy and other non-JSON values from any stage become
plain JSON types, so a valid call is never lost to `TypeError: Object of type bool is not JSON serializable`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from callqa.pipeline.jsonable import dumps, to_plain


def test_numpy_values_become_plain_json():
    data = {"in_order": np.bool_(True), "n": np.int64(3), "x": np.float32(0.5), "arr": np.arange(3),
            "nan": float("nan"), "path": Path("/tmp/a.wav"), "when": dt.date(2026, 12, 2),
            "stages": ({"ok": np.bool_(False)},), np.int32(7): "key"}
    out = json.loads(dumps(data))
    assert out == {"in_order": True, "n": 3, "x": 0.5, "arr": [0, 1, 2], "nan": None, "path": "/tmp/a.wav",
                   "when": "2026-12-02", "stages": [{"ok": False}], "7": "key"}
    assert type(to_plain(np.bool_(True))) is bool


def test_an_unknown_object_is_a_clear_error():
    with pytest.raises(TypeError, match="cannot write .*object"):
        to_plain({"x": object()})


def test_a_call_result_with_numpy_signals_serializes(config):
    """The 8 kHz mono crash: a numpy bool inside signals.script.stages[].in_order."""
    from callqa.pipeline.process import process_call

    src = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"
    path = sorted(src.glob("*.json"))[0]
    result = process_call(path, config)
    result.signals = {"script": {"stages": [{"id": "greeting", "in_order": np.bool_(True)}]},
                      "talk_ratio_operator": np.float64(0.61)}
    text = json.dumps(result.serialize())  # plain json, no default=
    assert json.loads(text)["signals"]["script"]["stages"][0]["in_order"] is True
