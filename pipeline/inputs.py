"""Inputs other than audio: metadata (sidecars, --meta, manifest rows) and
transcripts produced elsewhere (CONTRACTS.md, "Transcript import")."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from callqa.pipeline.errors import InputError
from callqa.pipeline.settings import LANGUAGE_CODE
from callqa.pipeline.types import DIRECTIONS, LANGUAGES, ROLES, SPEAKERS, CallMeta, Transcript, Turn, Word

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".wma")
MAX_TRANSCRIPT_S = 24 * 3600.0  # an imported call longer than a day has its times in another unit
META_FIELDS = ("call_id", "operator_id", "team", "role", "direction", "started_at", "language",
               "channel_map", "scenario", "swap_roles", "num_speakers")


def is_transcript_file(path: Path) -> bool:
    return path.suffix.lower() == ".json" and not path.name.endswith(".meta.json")


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def _str_or_none(value: Any, path: Path, key: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise InputError(path, f"field '{key}' must be a string, got {type(value).__name__}")


def meta_from_mapping(data: Mapping[str, Any], path: Path) -> CallMeta:
    """Validate one metadata record; unknown keys are ignored, bad values name the field."""
    if not isinstance(data, Mapping):
        raise InputError(path, "metadata must be a JSON/YAML object")
    vals: dict[str, Any] = {}
    for key in ("call_id", "operator_id", "team", "started_at", "scenario"):
        value = data.get(key)
        if key == "started_at" and isinstance(value, (_dt.date, _dt.datetime)):
            value = value.isoformat()  # YAML reads an unquoted date/time as one
        vals[key] = _str_or_none(value, path, key)
    if vals["started_at"] is not None:
        vals["started_at"] = vals["started_at"].strip()
        try:
            _dt.datetime.fromisoformat(vals["started_at"])
        except ValueError:
            # Reports, trends, sampling and search order and group calls by it; a date they cannot
            # read would quietly drop the call from all of them.
            raise InputError(path, f"field 'started_at' must be an ISO 8601 date or date-time such as "
                                   f"2026-11-20T14:05:00, got {_show(vals['started_at'])}") from None
    cid = vals["call_id"]
    if cid is not None and (cid.strip() in (".", "..") or any(c in cid for c in "/\\") or not cid.isprintable()):
        # The call id names the result file (`<call_id>.json`): a path in it would write elsewhere.
        raise InputError(path, f"field 'call_id' must not contain '/', '\\' or control characters, "
                               f"nor be '.' or '..', got {_show(cid)}")
    for key, allowed in (("role", ROLES), ("direction", DIRECTIONS), ("language", None)):
        v = _str_or_none(data.get(key), path, key)
        if v is not None:
            v = v.strip().lower()
            if key == "language" and v == "auto":
                v = None
            elif allowed is None:
                # Which languages exist is configuration (configs/languages.yaml), checked when the call is
                # analysed; here only the form of a code.
                if not re.fullmatch(LANGUAGE_CODE, v):
                    raise InputError(path, f"field 'language' must be a language code like {', '.join(LANGUAGES)} "
                                           f"(configs/languages.yaml), got {v!r}")
            elif v not in allowed:
                raise InputError(path, f"field '{key}' must be one of {', '.join(allowed)}, got {v!r}")
        vals[key] = v
    cmap = data.get("channel_map")
    if cmap not in (None, ""):
        if isinstance(cmap, str):
            cmap = [c.strip() for c in cmap.replace(";", ",").replace("|", ",").split(",") if c.strip()]
        if isinstance(cmap, Mapping):  # {"0": "operator", "1": "client"} or {left: operator, right: client}
            order = {"left": 0, "right": 1, "0": 0, "1": 1}
            try:
                cmap = [v for _, v in sorted(cmap.items(), key=lambda kv: order[str(kv[0]).lower()])]
            except KeyError:
                raise InputError(path, "field 'channel_map' keys must be left/right or 0/1") from None
        if (not isinstance(cmap, list) or len(cmap) != 2 or sorted(map(str, cmap)) != sorted(SPEAKERS)):
            raise InputError(path, "field 'channel_map' must list 'operator' and 'client', one per channel")
        vals["channel_map"] = tuple(str(c) for c in cmap)
    swap = data.get("swap_roles", False)
    if isinstance(swap, str):
        swap = swap.strip().lower() in ("1", "true", "yes")
    vals["swap_roles"] = bool(swap)
    n = data.get("num_speakers")
    if n not in (None, ""):
        try:
            n_int = int(str(n).strip())
        except ValueError:
            n_int = 0
        if isinstance(n, bool) or not 1 <= n_int <= 8 or (isinstance(n, float) and n != n_int):
            raise InputError(path, f"field 'num_speakers' must be a whole number from 1 to 8, got {n!r}")
        vals["num_speakers"] = n_int
    return CallMeta(**vals)


def read_meta_file(path: Path) -> CallMeta:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(path, f"cannot read metadata: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as e:
        raise InputError(path, f"metadata is not valid {path.suffix.lstrip('.').upper()}: {e}") from None
    return meta_from_mapping(data or {}, path)


SIDECAR_SUFFIXES = (".meta.json", ".meta.yaml", ".meta.yml")


def sidecar_stem(name: str) -> str | None:
    """The recording's stem a sidecar file name belongs to (`call7.meta.json` -> `call7`), None when
    the name is not a sidecar's (suffix compared case-insensitively)."""
    low = name.lower()
    return next((name[: -len(s)] for s in SIDECAR_SUFFIXES if low.endswith(s)), None)


def sidecar_for(path: Path) -> Path | None:
    """`<stem>.meta.json` or `<stem>.meta.yaml` beside a recording."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    for suffix in SIDECAR_SUFFIXES:
        cand = path.with_name(stem + suffix)
        if cand.is_file():
            return cand
    return None


def read_manifest(path: Path) -> dict[str, CallMeta]:
    """Rows of a batch inbox's `manifest.csv`, keyed by the `file` column (or call_id)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read manifest: {e}") from None
    out: dict[str, CallMeta] = {}
    for n, row in enumerate(rows, start=2):
        key = (row.get("file") or row.get("path") or row.get("call_id") or "").strip()
        if not key:
            raise InputError(path, f"row {n}: needs a 'file' or 'call_id' column")
        try:
            out[key] = meta_from_mapping({k: v for k, v in row.items() if k in META_FIELDS}, path)
        except InputError as e:
            raise InputError(path, f"row {n}: {e.problem}") from None
    return out


def _num(value: Any, path: Path, where: str) -> float:
    if value is None:
        raise InputError(path, f"{where} is missing (a number of seconds)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, f"{where} must be a number, got {type(value).__name__} {_show(value)}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise InputError(path, f"{where} must be a finite number, got {_show(value)}")
    if out < 0:
        raise InputError(path, f"{where} must not be negative, got {_show(value)}")
    return out


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean_text(text: str) -> str:
    """Text as it can be stored: lone surrogates (invalid UTF-16 escapes in JSON) replaced."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def guess_language(texts: list[str]) -> str:
    """'ru' when Cyrillic letters outnumber Latin ones, else 'en'."""
    cyr = lat = 0
    for t in texts:
        for c in t:
            if c.isalpha():
                if "\u0400" <= c <= "\u04ff":
                    cyr += 1
                elif c.isascii():
                    lat += 1
    return "ru" if cyr > lat else "en"


# A diarization label ("SPEAKER_00", "speaker 1", "spk0"): roles still to be told apart.
DIARIZATION_LABEL = re.compile(r"^(speaker|spk)[ _-]?\d{1,3}$", re.IGNORECASE)
UNASSIGNED = "unassigned"  # Transcript.role_method of a transcript whose turns carry diarization labels


def _speaker(value: Any, path: Path, where: str) -> str:
    if isinstance(value, str) and value.strip().lower() in SPEAKERS:
        return value.strip().lower()
    if isinstance(value, str) and DIARIZATION_LABEL.match(value.strip()):
        return value.strip().upper()
    raise InputError(path, f"{where}.speaker must be 'operator' or 'client', got {_show(value)} "
                           "(or, for every turn, a diarization label such as SPEAKER_00)")


def _words(words_raw: Any, path: Path, where: str) -> list[Word]:
    if not isinstance(words_raw, list):
        raise InputError(path, f"{where}.words must be a list, got {type(words_raw).__name__}")
    words: list[Word] = []
    for j, w in enumerate(words_raw):
        wwhere = f"{where}.words[{j}]"
        if not isinstance(w, dict):
            raise InputError(path, f"{wwhere} must be an object, got {type(w).__name__}")
        if "text" not in w:
            raise InputError(path, f"{wwhere}: missing field 'text'")
        if not isinstance(w["text"], str):
            raise InputError(path, f"{wwhere}.text must be a string, got {type(w['text']).__name__}")
        for key in ("start", "end"):
            if key not in w:
                raise InputError(path, f"{wwhere}: missing field '{key}'")
        ws = _num(w["start"], path, f"{wwhere}.start")
        we = _num(w["end"], path, f"{wwhere}.end")
        if we < ws:
            raise InputError(path, f"{wwhere}: end ({we}) is before start ({ws})")
        prob = w.get("probability", 1.0)
        prob = _num(prob, path, f"{wwhere}.probability") if prob is not None else 1.0
        words.append(Word(_clean_text(w["text"]), ws, we, min(prob, 1.0)))
    words.sort(key=lambda x: (x.start, x.end))
    return words


def read_transcript_json(path: Path) -> tuple[Transcript, CallMeta]:
    """A transcript made elsewhere (CONTRACTS.md); every problem names the file and field.

    Never raises anything but `InputError` for bad content.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    if not raw.strip():
        raise InputError(path, "empty file")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text (is it a transcript JSON?)") from None
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON: {e.msg} at line {e.lineno}") from None
    except RecursionError:
        raise InputError(path, "not a transcript: JSON nested too deeply") from None
    return transcript_from_mapping(data, path)


def transcript_from_mapping(data: Any, path: Path) -> tuple[Transcript, CallMeta]:
    """Validate a parsed transcript document (see `read_transcript_json`)."""
    if not isinstance(data, dict):
        raise InputError(path, f"top level must be an object with 'turns', got {type(data).__name__}")
    if "turns" not in data:
        raise InputError(path, "missing field 'turns'")
    turns_raw = data["turns"]
    if not isinstance(turns_raw, list):
        raise InputError(path, f"field 'turns' must be a list, got {type(turns_raw).__name__}")
    if not turns_raw:
        raise InputError(path, "field 'turns' is empty: nothing to analyse")
    meta = meta_from_mapping({k: v for k, v in data.items() if k in META_FIELDS}, path)
    turns: list[Turn] = []
    for i, t in enumerate(turns_raw):
        where = f"turns[{i}]"
        if not isinstance(t, dict):
            raise InputError(path, f"{where} must be an object, got {type(t).__name__}")
        for key in ("speaker", "start", "end"):
            if key not in t:
                raise InputError(path, f"{where}: missing field '{key}'")
        speaker = _speaker(t["speaker"], path, where)
        start = _num(t["start"], path, f"{where}.start")
        end = _num(t["end"], path, f"{where}.end")
        if end < start:
            raise InputError(path, f"{where}: end ({end}) is before start ({start})")
        words = _words(t["words"], path, where) if t.get("words") is not None else []
        if "text" not in t:
            if not words:
                raise InputError(path, f"{where}: missing field 'text'")
            text = " ".join(w.text.strip() for w in words)
        elif not isinstance(t["text"], str):
            raise InputError(path, f"{where}.text must be a string, got {type(t['text']).__name__}")
        else:
            text = t["text"]
        channel = t.get("channel")
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 0):
            raise InputError(path, f"{where}.channel must be a channel number (0, 1), got {_show(channel)}")
        turns.append(Turn(speaker=speaker, start=start, end=end, text=_clean_text(text).strip(),
                          words=tuple(words), channel=channel))
    turns.sort(key=lambda t: (t.start, t.end))
    duration = data.get("duration_s")
    duration = _num(duration, path, "duration_s") if duration is not None else 0.0
    duration = max([duration] + [t.end for t in turns])
    if duration > MAX_TRANSCRIPT_S:
        raise InputError(path, f"the call would last {duration / 3600:.1f} h: times must be in seconds "
                               f"(milliseconds exported as seconds?)")
    language = meta.language or guess_language([t.text for t in turns])
    labelled = [t.speaker not in SPEAKERS for t in turns]
    if any(labelled):
        if not all(labelled):
            i = labelled.index(not labelled[0])
            raise InputError(path, f"turns[{i}].speaker: roles (operator/client) and diarization labels are mixed; "
                                   "use one or the other for every turn")
        # Roles are told apart by process_call (pipeline/speech/roles.py), as on a mono recording.
        return Transcript(turns=tuple(turns), language=language, duration_s=duration,
                          role_confidence=None, role_method=UNASSIGNED), meta
    return Transcript(turns=tuple(turns), language=language, duration_s=duration,
                      role_confidence=1.0, role_method="import"), meta
