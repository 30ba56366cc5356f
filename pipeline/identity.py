"""Identity of a call's results per stage (CONTRACTS.md: `transcript_id`, `analysis_id`).

transcript identity = audio sha256 + audio/ASR/diarization/role-assignment settings + model
package versions + the metadata that changes the transcript (channel map, direction, language).
analysis identity = transcript identity + redaction, signals, scripts, lexicons, indicators,
competency map, flags, categories, grading and sentiment settings + team/role metadata.
Sections that change no result (web, development plans) are part of neither.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from importlib import metadata
from typing import Any

from callqa.pipeline.config import Config

# Config keys (dotted) whose values change the transcript.
TRANSCRIPT_KEYS: tuple[str, ...] = ("audio", "models.asr", "models.diarization", "company", "role_assignment")
# Config keys whose values change the analysis of a given transcript.
ANALYSIS_KEYS: tuple[str, ...] = ("privacy", "models.sentiment", "signals", "scripts", "lexicons", "indicators",
                                  "competency_map", "flags", "grading", "roles", "categories")
# Call metadata that changes each stage.
TRANSCRIPT_META: tuple[str, ...] = ("channel_map", "direction", "language", "swap_roles", "num_speakers")
ANALYSIS_META: tuple[str, ...] = ("team", "role", "operator_role")
# Packages whose version changes what the speech models produce.
TRANSCRIPT_PACKAGES: tuple[str, ...] = ("faster-whisper", "ctranslate2", "onnx-asr", "onnxruntime",
                                        "pyannote.audio", "torch")
ANALYSIS_PACKAGES: tuple[str, ...] = ("transformers",)


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _sections(config: Config, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: config.get(k, None) for k in keys}


def _meta(meta: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The fields `keys` of `meta` (a mapping or a CallMeta) that are set."""
    if meta is not None and is_dataclass(meta):
        meta = asdict(meta)
    meta = meta or {}
    return {k: meta.get(k) for k in keys if meta.get(k) not in (None, False)}


def transcript_id(sha256: str, config: Config, meta: Mapping[str, Any] | None = None) -> str:
    """The id of the transcript of audio `sha256` under `config` and call `meta`."""
    return "t-" + _digest({"sha256": sha256, "config": _sections(config, TRANSCRIPT_KEYS),
                           "meta": _meta(meta, TRANSCRIPT_META), "packages": _versions(TRANSCRIPT_PACKAGES)})


def analysis_id(sha256: str, config: Config, meta: Mapping[str, Any] | None = None) -> str:
    """The id of the analysis (scores, flags, signals) of that transcript."""
    return "a-" + _digest({"transcript": transcript_id(sha256, config, meta),
                           "config": _sections(config, ANALYSIS_KEYS), "meta": _meta(meta, ANALYSIS_META),
                           "packages": _versions(ANALYSIS_PACKAGES)})


def call_ids(sha256: str, config: Config, meta: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Both ids, as put in a call result: {"transcript_id": ..., "analysis_id": ...}."""
    return {"transcript_id": transcript_id(sha256, config, meta), "analysis_id": analysis_id(sha256, config, meta)}
