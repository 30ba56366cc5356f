"""Build the sample calls from `scenarios/*.yaml` with espeak-ng, with exact truth.

Run from the repository root::

    .venv/bin/python sample_calls/synthesize.py              # every call
    .venv/bin/python sample_calls/synthesize.py --only en_good_inbound --out /tmp/x

Each scenario lists the call's turns (speaker, text, gap before the turn; a
negative gap overlaps the previous turn) and what was planted in them
(fillers, forbidden phrases, script stages...). Every utterance is synthesized
separately, trimmed to its first and last sample above the speech threshold, and
placed at an exact sample offset, so the truth times are the times of speech in
the written file. Outputs (under `--out`, default this folder):

- `audio/<id>.<ext>` + `audio/<id>.meta.json`     English recordings
- `ru_audio/<id>.<ext>` + sidecar                 Russian recordings
- `transcripts/<id>_tx.json`                      transcript-import JSON (CONTRACTS.md)
- `truth/<id>.json`                               ground truth for every call written

espeak-ng is driven through its C library (ctypes) in a child process per call:
the library keeps state between utterances, so a fresh process makes a call's
audio depend on nothing but its scenario (same bytes on every run).
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Default script stage ids (CONTRACTS.md, inbound); a scenario may list its own (`script_stages`).
SCRIPT_STAGES = ("greeting", "offer_help", "need_discovery", "paraphrase", "resolution", "further_help",
                 "farewell")
PLANT_KINDS = ("fillers", "forbidden", "escalation", "politeness", "empathy", "paraphrase", "client_name",
               "next_step", "resolution", "client_confirms", "open_questions", "glossary", "hold", "traps",
               "negative", "positive", "company", "own_name", "monologue")
FORMATS = ("wav", "flac", "ogg", "mp3")
ESPEAK_RATE = 22050
SPEECH_THRESHOLD = 10 ** (-45 / 20)  # |sample| above this (-45 dBFS) counts as speech
PEAK = 10 ** (-3 / 20)  # each utterance is normalised to this peak before its speaker's gain
NOISE_DBFS = -80.0  # room/line noise under everything (deterministic, seeded by the call id)


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


# --------------------------------------------------------------------------- espeak-ng


class _Event(ctypes.Structure):
    # espeak_EVENT from speak_lib.h (the trailing union is 8 bytes)
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_EVENT_WORD = 1
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7


def _espeak_worker() -> None:
    """Child process: read utterances (JSON on stdin), write PCM + word events (JSON on stdout)."""
    lib = ctypes.CDLL("libespeak-ng.so.1")
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                     ctypes.POINTER(_Event))
    rate = lib.espeak_Initialize(2, 0, None, 0)  # AUDIO_OUTPUT_SYNCHRONOUS
    if rate != ESPEAK_RATE:
        raise SystemExit(f"espeak-ng runs at {rate} Hz, expected {ESPEAK_RATE}")
    pcm = bytearray()
    events: list[tuple[int, int]] = []

    def collect(wav: Any, n: int, ev: Any) -> int:
        if n > 0:
            pcm.extend(ctypes.string_at(wav, n * 2))
        i = 0
        while ev[i].type != 0:
            if ev[i].type == _EVENT_WORD:
                events.append((ev[i].text_position, ev[i].sample))
            i += 1
        return 0

    cb = callback_type(collect)
    lib.espeak_SetSynthCallback(cb)
    out = []
    for utt in json.load(sys.stdin):
        pcm.clear()
        events.clear()
        if lib.espeak_SetVoiceByName(utt["voice"].encode()) != 0:
            raise SystemExit(f"espeak-ng has no voice {utt['voice']!r}")
        for key, param in (("speed", _RATE), ("pitch", _PITCH), ("range", _RANGE), ("wordgap", _WORDGAP)):
            if utt.get(key) is not None:
                lib.espeak_SetParameter(param, int(utt[key]), 0)
        lib.espeak_SetParameter(_VOLUME, 100, 0)
        text = utt["text"].encode("utf-8")
        buf = ctypes.create_string_buffer(text)
        if lib.espeak_Synth(buf, len(text) + 1, 0, 1, 0, 1, None, None) != 0:  # POS_CHARACTER, CHARS_UTF8
            raise SystemExit(f"espeak-ng failed on {utt['text']!r}")
        out.append({"pcm": base64.b64encode(bytes(pcm)).decode("ascii"), "events": list(events)})
    json.dump(out, sys.stdout)


def espeak_batch(utterances: list[dict[str, Any]]) -> list[tuple[Any, list[tuple[int, int]]]]:
    """Synthesize utterances in one fresh child process: [(int16 samples at 22050 Hz, word events)]."""
    import numpy as np

    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--espeak-worker"],
                          input=json.dumps(utterances).encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"espeak-ng worker failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return [(np.frombuffer(base64.b64decode(r["pcm"]), dtype="<i2"), [tuple(e) for e in r["events"]])
            for r in json.loads(proc.stdout)]


# --------------------------------------------------------------------------- scenario records


@dataclass(frozen=True)
class Voice:
    voice: str
    speed: int = 160
    pitch: int | None = None
    range: int | None = None
    wordgap: int | None = None
    gain_db: float = -3.0


@dataclass(frozen=True)
class ScenarioTurn:
    speaker: str
    text: str
    gap: float  # seconds after the previous turn ends; negative overlaps it
    plant: dict[str, list[Any]]


@dataclass(frozen=True)
class Scenario:
    path: Path
    call_id: str
    language: str
    outputs: tuple[str, ...]  # "audio" and/or "transcript"
    format: str
    channels: int
    sample_rate: int
    telephone: bool
    meta: dict[str, Any]
    voices: dict[str, Voice]
    lead_in_s: float
    tail_s: float
    turns: tuple[ScenarioTurn, ...]
    expected: dict[str, Any]
    description: str = ""
    pronounce: dict[str, str] = field(default_factory=dict)  # written word -> what espeak-ng is given
    script_stages: tuple[str, ...] = SCRIPT_STAGES


def load_scenario(path: Path) -> Scenario:
    """Read and check one `scenarios/*.yaml` file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ScenarioError(path, f"cannot read: {e}") from None
    if not isinstance(data, dict):
        raise ScenarioError(path, "top level must be a mapping")
    for key in ("call_id", "language", "turns", "voices"):
        if key not in data:
            raise ScenarioError(path, f"missing key '{key}'")
    lang = data["language"]
    if lang not in ("en", "ru"):
        raise ScenarioError(path, f"language must be en or ru, got {lang!r}")
    fmt = data.get("format", "wav")
    if fmt not in FORMATS:
        raise ScenarioError(path, f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    channels = int(data.get("channels", 2))
    if channels not in (1, 2):
        raise ScenarioError(path, "channels must be 1 or 2")
    outputs = tuple(data.get("outputs", ["audio"]))
    if not outputs or any(o not in ("audio", "transcript") for o in outputs):
        raise ScenarioError(path, "outputs must list 'audio' and/or 'transcript'")
    voices = {}
    for who in ("operator", "client"):
        v = data["voices"].get(who)
        if not isinstance(v, dict) or "voice" not in v:
            raise ScenarioError(path, f"voices.{who} needs a 'voice'")
        voices[who] = Voice(**v)
    stages = tuple(data.get("script_stages") or SCRIPT_STAGES)
    default_gap = float(data.get("default_gap_s", 0.6))
    turns = []
    for i, t in enumerate(data["turns"]):
        if t.get("speaker") not in ("operator", "client"):
            raise ScenarioError(path, f"turns[{i}].speaker must be operator or client")
        text = str(t.get("text", "")).strip()
        if not text:
            raise ScenarioError(path, f"turns[{i}].text is empty")
        plant = {k: list(v) for k, v in (t.get("plant") or {}).items()}
        for kind, items in plant.items():
            if kind not in PLANT_KINDS + ("stages",):
                raise ScenarioError(path, f"turns[{i}].plant.{kind}: unknown kind")
            for item in items:
                phrase = item["text"] if isinstance(item, dict) else item
                if kind == "stages":
                    if item not in stages:
                        raise ScenarioError(path, f"turns[{i}].plant.stages: unknown stage {item!r}")
                elif phrase not in text:
                    raise ScenarioError(path, f"turns[{i}].plant.{kind}: {phrase!r} is not in the turn text")
        if "fillers" in plant:
            lowered = [f.lower() for f in plant["fillers"]]
            for phrase in set(lowered):
                want = lowered.count(phrase)
                have = len(_occurrences(text, phrase))
                if want != have:
                    raise ScenarioError(path, f"turns[{i}]: filler {phrase!r} planted {want}x, occurs {have}x")
        gap = float(t.get("gap", default_gap))
        if i == 0 and "gap" in t:
            raise ScenarioError(path, "turns[0] takes no 'gap': the call's lead_in_s places it")
        turns.append(ScenarioTurn(speaker=t["speaker"], text=text, gap=gap, plant=plant))
    return Scenario(
        path=path, call_id=str(data["call_id"]), language=lang, outputs=outputs, format=fmt, channels=channels,
        sample_rate=int(data.get("sample_rate", 16000)), telephone=bool(data.get("telephone", False)),
        meta=dict(data.get("meta") or {}), voices=voices, lead_in_s=float(data.get("lead_in_s", 0.5)),
        tail_s=float(data.get("tail_s", 0.8)), turns=tuple(turns), expected=dict(data.get("expected") or {}),
        description=str(data.get("description", "")).strip(),
        pronounce={str(k).lower(): str(v) for k, v in (data.get("pronounce") or {}).items()},
        script_stages=stages,
    )


_CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


def spoken_text(text: str, pronounce: dict[str, str]) -> tuple[str, list[tuple[int, int]]]:
    """What espeak-ng says for `text`, and each whitespace chunk's character span in it.

    A chunk whose word (without surrounding punctuation) is in `pronounce` is
    replaced by its spoken form ("4726" -> "4 7 2 6"); the truth keeps the written form.
    """
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(r"\S+", text):
        lead, core, trail = _CORE.match(m.group()).groups()
        said = lead + pronounce.get(core.lower(), core) + trail
        if parts:
            pos += 1
        spans.append((pos, pos + len(said)))
        parts.append(said)
        pos += len(said)
    return " ".join(parts), spans


def _occurrences(text: str, phrase: str) -> list[int]:
    """Character offsets of `phrase` as whole words in `text` (case-insensitive)."""
    pat = r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)"
    return [m.start() for m in re.finditer(pat, text.lower())]


# --------------------------------------------------------------------------- timing truth


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def expected_timing(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Timing values that follow from exact turn times (definitions in README.md)."""
    talk = {}
    for who in ("operator", "client"):
        talk[who] = sum(e - s for s, e in _union([(t["start"], t["end"]) for t in turns if t["speaker"] == who]))
    total = talk["operator"] + talk["client"]
    speech = _union([(t["start"], t["end"]) for t in turns])
    gaps = [b[0] - a[1] for a, b in zip(speech, speech[1:])]
    interruptions = {"by_operator": 0, "by_client": 0}
    overlap = 0.0
    for i, t in enumerate(turns):
        for o in turns[:i]:
            if o["speaker"] != t["speaker"] and o["start"] < t["start"] < o["end"]:
                interruptions["by_" + t["speaker"]] += 1
                break
        for o in turns[:i]:
            if o["speaker"] != t["speaker"]:
                overlap += max(0.0, min(o["end"], t["end"]) - max(o["start"], t["start"]))
    return {
        "talk_time_s": {k: round(v, 3) for k, v in talk.items()},
        "talk_ratio_operator": round(talk["operator"] / total, 4) if total else None,
        "silence_s": round(sum(gaps), 3),
        "longest_silence_s": round(max(gaps, default=0.0), 3),
        "overlap_s": round(overlap, 3),
        "interruptions": interruptions,
    }


# --------------------------------------------------------------------------- audio


def _trim(x: Any, threshold: float = SPEECH_THRESHOLD) -> tuple[int, int]:
    """First and one-past-last sample index whose magnitude exceeds `threshold`."""
    import numpy as np

    idx = np.flatnonzero(np.abs(x) > threshold)
    if idx.size == 0:
        return 0, 0
    return int(idx[0]), int(idx[-1]) + 1


def espeak_clip(text: str, voice: str, speed: int = 165, rate: int = 16000) -> Any:
    """One espeak-ng utterance as float32 at `rate`, trimmed to its first and last sample above
    SPEECH_THRESHOLD, peak 1 (test and benchmark speech outside a scenario)."""
    import io
    import math

    import numpy as np
    import soundfile as sf
    from scipy.signal import resample_poly

    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True,
                         check=True).stdout
    x, src = sf.read(io.BytesIO(wav), dtype="float32")
    g = math.gcd(rate, src)
    x = resample_poly(x, rate // g, src // g).astype(np.float32)
    loud = np.flatnonzero(np.abs(x) > SPEECH_THRESHOLD)
    return x[loud[0]:loud[-1] + 1] / np.abs(x).max()


def _band_limit(x: Any, rate: int) -> Any:
    """Telephone channel: 300-3400 Hz, zero phase."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(6, [300.0, 3400.0], btype="bandpass", fs=rate, output="sos")
    return sosfiltfilt(sos, x)


def render_utterance(pcm: Any, events: list[tuple[int, int]], text: str, voice: Voice, rate: int,
                     telephone: bool, pronounce: dict[str, str] | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """espeak output -> trimmed float32 at `rate` + word times (seconds from the utterance's first sample)."""
    import numpy as np
    from scipy.signal import resample_poly

    x = pcm.astype(np.float64) / 32768.0
    a, b = _trim(x, 1e-4)
    pad = 64
    a0, b0 = max(0, a - pad), min(len(x), b + pad)
    x = x[a0:b0]
    g = np.gcd(rate, ESPEAK_RATE)
    y = resample_poly(x, rate // g, ESPEAK_RATE // g)
    if telephone:
        y = _band_limit(y, rate)
    y = y / max(1e-9, float(np.max(np.abs(y)))) * PEAK * 10 ** (voice.gain_db / 20)
    s, e = _trim(y)
    y = y[s:e].astype(np.float32)

    # Words: a whitespace-separated chunk starts at the first word event inside it;
    # it ends at the last speech sample before the next chunk starts.
    _, spans = spoken_text(text, pronounce or {})
    chunks = [(a, b, m.group()) for (a, b), m in zip(spans, re.finditer(r"\S+", text))]
    starts: list[float | None] = []
    for cs, ce, _ in chunks:
        hit = [smp for pos, smp in events if cs <= pos - 1 < ce]
        starts.append(None if not hit else (min(hit) - a0) * rate / ESPEAK_RATE - s)
    if starts and starts[0] is None:
        starts[0] = 0.0
    for i in range(1, len(starts)):  # chunks with no event of their own (e.g. "-") follow the previous one
        if starts[i] is None:
            starts[i] = starts[i - 1]
    n = len(y)
    bounds = [min(max(0, int(round(v or 0.0))), n) for v in starts] + [n]
    for i in range(1, len(bounds)):
        bounds[i] = max(bounds[i], bounds[i - 1])
    words = []
    for i, (_, _, w) in enumerate(chunks):
        ws, we = bounds[i], bounds[i + 1]
        seg = y[ws:we]
        _, last = _trim(seg)
        we = ws + (last if last else len(seg))
        words.append({"text": w, "start": ws / rate, "end": max(we, ws) / rate})
    return y, words


def _encode(mix: Any, rate: int, fmt: str, dest: Path) -> None:
    """Write `mix` (channels, n) float32 as `fmt`, deterministically."""
    import numpy as np
    import soundfile as sf

    dest.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(mix.T * 32767.0), -32768, 32767).astype("<i2")
    if fmt in ("wav", "flac"):
        sf.write(str(dest), pcm, rate, format=fmt.upper(), subtype="PCM_16")
        return
    codec = {"ogg": ["-c:a", "libvorbis", "-q:a", "5"], "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"]}[fmt]
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "s16le", "-ar", str(rate), "-ac",
           str(mix.shape[0]), "-i", "-", *codec, "-fflags", "+bitexact", "-flags:a", "+bitexact",
           "-map_metadata", "-1", str(dest)]
    proc = subprocess.run(cmd, input=pcm.tobytes(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {dest}: {proc.stderr.decode(errors='replace')[-300:]}")


def _seed(call_id: str) -> int:
    return int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "little")


# --------------------------------------------------------------------------- one call


def _planted(sc: Scenario, turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Planted items with the turn index they sit in (and their time when locatable)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for i, (st, t) in enumerate(zip(sc.turns, turns)):
        for kind, items in st.plant.items():
            if kind == "stages":
                continue
            used: dict[str, int] = {}
            for item in items:
                rec = dict(item) if isinstance(item, dict) else {"text": item}
                k = used.get(rec["text"].lower(), 0)
                used[rec["text"].lower()] = k + 1
                occ = _occurrences(t["text"], rec["text"]) or [t["text"].find(rec["text"])]
                pos = occ[min(k, len(occ) - 1)]
                rec.update({"turn": i, "speaker": t["speaker"]})
                rec.update(_locate(t, pos, len(rec["text"])))
                out.setdefault(kind, []).append(rec)
    out["script_stages"] = [{"id": stage, "turn": i, "start": turns[i]["start"]}
                            for i, st in enumerate(sc.turns) for stage in st.plant.get("stages", [])]
    return out


def _locate(turn: dict[str, Any], pos: int, length: int) -> dict[str, float]:
    """Start/end seconds of the words covering text[pos:pos+length]."""
    words, text = turn["words"], turn["text"]
    offsets = [m.start() for m in re.finditer(r"\S+", text)]
    covered = [w for w, off in zip(words, offsets) if off < pos + length and off + len(w["text"]) > pos]
    if not covered:
        return {}
    return {"start": covered[0]["start"], "end": covered[-1]["end"]}


@dataclass(frozen=True)
class RenderedTurn:
    """One synthesized turn placed on the call's timeline."""

    speaker: str
    text: str
    start: int  # first sample of speech
    samples: Any  # float32, trimmed to speech
    words: tuple[dict[str, Any], ...]  # seconds from the turn's start

    def truth(self, rate: int) -> dict[str, Any]:
        t0 = self.start / rate
        return {"speaker": self.speaker, "start": round(t0, 6), "end": round((self.start + len(self.samples)) / rate, 6),
                "text": self.text,
                "words": [{"text": w["text"], "start": round(t0 + w["start"], 4), "end": round(t0 + w["end"], 4)}
                          for w in self.words]}


def render_call(sc: Scenario) -> tuple[list[RenderedTurn], int]:
    """Synthesize every turn and place it at an exact sample offset; returns the turns
    and the call's length in samples."""
    rate = sc.sample_rate
    utts = []
    for t in sc.turns:
        v = sc.voices[t.speaker]
        utts.append({"text": spoken_text(t.text, sc.pronounce)[0], "voice": v.voice, "speed": v.speed,
                     "pitch": v.pitch, "range": v.range, "wordgap": v.wordgap})
    out: list[RenderedTurn] = []
    prev_end: int | None = None
    for (pcm, events), t in zip(espeak_batch(utts), sc.turns):
        y, words = render_utterance(pcm, events, t.text, sc.voices[t.speaker], rate, sc.telephone, sc.pronounce)
        if prev_end is None:
            start = int(round(sc.lead_in_s * rate))  # the first turn starts after the lead-in
        else:
            start = prev_end + int(round(t.gap * rate))
            if start < out[-1].start:
                raise ScenarioError(sc.path, f"turn {len(out)}: overlap of {-t.gap}s is longer than the previous turn")
        out.append(RenderedTurn(t.speaker, t.text, start, y, tuple(words)))
        prev_end = start + len(y)
    total = max(r.start + len(r.samples) for r in out) + int(round(sc.tail_s * rate))
    return out, total


def mix_call(sc: Scenario, turns: list[RenderedTurn], total: int, channel_map: list[str]) -> Any:
    """(channels, samples) float64: each speaker on their channel (or all on one), plus line noise."""
    import numpy as np

    mix = np.zeros((sc.channels, total), dtype=np.float64)
    for r in turns:
        ch = channel_map.index(r.speaker) if sc.channels == 2 else 0
        mix[ch, r.start:r.start + len(r.samples)] += r.samples
    noise = np.random.default_rng(_seed(sc.call_id)).standard_normal(mix.shape) * 10 ** (NOISE_DBFS / 20)
    if sc.telephone:
        noise = np.stack([_band_limit(n, sc.sample_rate) for n in noise]) * 2.0
    return mix + noise


def _expected(sc: Scenario, turns: list[dict[str, Any]], planted: dict[str, Any]) -> dict[str, Any]:
    expected = expected_timing(turns)
    expected["filler_count_operator"] = sum(1 for f in planted.get("fillers", []) if f["speaker"] == "operator")
    expected["forbidden_count"] = len(planted.get("forbidden", []))
    expected["escalation_count"] = len(planted.get("escalation", []))
    found = {s["id"] for s in planted["script_stages"]}
    expected["script_stages_missing"] = [s for s in sc.script_stages if s not in found]
    expected.update(sc.expected)  # judgements: difficult, quality, sentiment
    return expected


def _write_json(path: Path, data: Any, indent: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


def build_call(sc: Scenario, out_dir: Path) -> dict[str, dict[str, Any]]:
    """Synthesize one call, write its files under `out_dir`, return its truth per call id."""
    rate = sc.sample_rate
    rendered, total = render_call(sc)
    turns = [r.truth(rate) for r in rendered]
    planted = _planted(sc, turns)
    common = {
        "language": sc.language,
        "description": sc.description,
        "duration_s": round(total / rate, 6),
        "turns": [{k: t[k] for k in ("speaker", "start", "end", "text")} for t in turns],
        "script": list(sc.script_stages),
        "planted": planted,
        "expected": _expected(sc, turns, planted),
    }
    meta = {k: v for k, v in sc.meta.items() if k != "channel_map"}
    truths: dict[str, dict[str, Any]] = {}
    if "audio" in sc.outputs:
        channel_map = list(sc.meta.get("channel_map") or ["operator", "client"])
        folder = "audio" if sc.language == "en" else "ru_audio"
        dest = out_dir / folder / f"{sc.call_id}.{sc.format}"
        _encode(mix_call(sc, rendered, total, channel_map), rate, sc.format, dest)
        audio_meta = {"call_id": sc.call_id, "language": sc.language, **meta}
        if sc.channels == 2:
            audio_meta["channel_map"] = channel_map
        _write_json(dest.parent / f"{sc.call_id}.meta.json", audio_meta, indent=2)
        truths[sc.call_id] = {"call_id": sc.call_id, "kind": "audio", "source": f"{folder}/{dest.name}",
                              "channels": sc.channels, "sample_rate": rate, "format": sc.format,
                              "telephone": sc.telephone, "meta": audio_meta, **common}
    if "transcript" in sc.outputs:
        tx_id = f"{sc.call_id}_tx"
        dest = out_dir / "transcripts" / f"{tx_id}.json"
        _write_json(dest, {"call_id": tx_id, "language": sc.language, **meta,
                           "duration_s": round(total / rate, 6), "turns": turns})
        truths[tx_id] = {"call_id": tx_id, "kind": "transcript", "source": f"transcripts/{dest.name}",
                         "channels": None, "sample_rate": None, "format": "json", "telephone": False,
                         "meta": {"call_id": tx_id, "language": sc.language, **meta},
                         **({"same_call_as": sc.call_id} if "audio" in sc.outputs else {}), **common}
    for cid, truth in truths.items():
        _write_json(out_dir / "truth" / f"{cid}.json", truth)
    return truths


def scenario_files(root: Path = HERE / "scenarios") -> list[Path]:
    return sorted(root.glob("*.yaml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: sample_calls/)")
    parser.add_argument("--only", nargs="*", default=None, help="scenario call ids to build")
    parser.add_argument("--scenarios", type=Path, default=HERE / "scenarios", help="folder of scenario YAML files")
    parser.add_argument("--espeak-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.espeak_worker:
        _espeak_worker()
        return 0
    scenarios = [load_scenario(p) for p in scenario_files(args.scenarios)]
    ids = [s.call_id for s in scenarios]
    if len(set(ids)) != len(ids):
        print("duplicate call ids in scenarios", file=sys.stderr)
        return 2
    if args.only:
        unknown = set(args.only) - set(ids)
        if unknown:
            print(f"unknown call ids: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        scenarios = [s for s in scenarios if s.call_id in args.only]
    for sc in scenarios:
        truths = build_call(sc, args.out)
        for cid, t in truths.items():
            print(f"{cid:28s} {t['kind']:10s} {t['duration_s']:6.1f}s  talk_ratio_op="
                  f"{t['expected']['talk_ratio_operator']:.2f}  longest_silence={t['expected']['longest_silence_s']:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
