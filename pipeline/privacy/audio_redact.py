"""Personal data out of audio: the spans redaction tagged in the transcript
(`processing.redactions`, from word times; pipeline/privacy/redact.py) are muted or
beeped in the recording that the web app serves and the library exports
(configs/privacy.yaml `audio`: mute | beep | original).

The recording is decoded with ffmpeg (any format the pipeline reads) and
written as 16-bit PCM WAV at its own rate and channel count.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from callqa.pipeline.errors import InputError

BEEP_HZ = 1000.0
BEEP_LEVEL = 0.1  # -20 dBFS
PAD_S = 0.05  # word times are approximate: a little either side


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """(samples [n, channels] float32, rate) of the whole file, native rate and channels."""
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data, int(rate)
    except Exception:  # formats libsndfile does not read (mp3, m4a, opus...): ffmpeg
        pass
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=sample_rate,channels", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True)
    try:
        rate_s, ch_s = probe.stdout.strip().splitlines()[0].split(",")[:2]
        rate, channels = int(rate_s), int(ch_s)
    except (ValueError, IndexError):
        raise InputError(path, "corrupt or unsupported audio: cannot read its rate and channels") from None
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le",
                           "-ac", str(channels), "-ar", str(rate), "-"], capture_output=True)
    if proc.returncode != 0:
        raise InputError(path, f"corrupt or unsupported audio: ffmpeg failed ({proc.stderr.decode()[-200:]})")
    return np.frombuffer(proc.stdout, dtype=np.float32).reshape(-1, channels).copy(), rate


def redact_samples(samples: np.ndarray, rate: int, spans: Iterable[Mapping[str, Any]],
                   mode: str = "mute") -> np.ndarray:
    """`samples` [n, channels] with every span silenced (all channels: the other
    channel may carry the same words as crosstalk) or replaced by a beep."""
    out = samples.copy()
    n = out.shape[0]
    for s in spans:
        a = max(0, int((float(s["start"]) - PAD_S) * rate))
        b = min(n, int(np.ceil((float(s["end"]) + PAD_S) * rate)))
        if b <= a:
            continue
        if mode == "beep":
            t = np.arange(b - a) / rate
            out[a:b, :] = (BEEP_LEVEL * np.sin(2 * np.pi * BEEP_HZ * t)).astype(out.dtype)[:, None]
        else:
            out[a:b, :] = 0.0
    return out


def redacted_wav(path: str | Path, spans: Iterable[Mapping[str, Any]], mode: str = "mute") -> bytes:
    """The recording at `path` as WAV bytes with the personal-data spans muted/beeped."""
    import soundfile as sf

    path = Path(path)
    samples, rate = _decode(path)
    buf = io.BytesIO()
    sf.write(buf, redact_samples(samples, rate, list(spans), mode), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def spans_of(result: Mapping[str, Any], tags: Iterable[str] = ()) -> list[Mapping[str, Any]]:
    """The spans to redact in a stored call result: `processing.redactions`, or for a
    result stored before they were recorded, the transcript words holding a tag."""
    processing = result.get("processing") or {}
    if "redactions" in processing:
        return list(processing["redactions"] or [])
    tags = tuple(tags)
    out = []
    for turn in ((result.get("transcript") or {}).get("turns") or []):
        for w in turn.get("words") or []:
            if any(t in str(w.get("text", "")) for t in tags):
                out.append({"start": w["start"], "end": w["end"], "kind": "tag"})
    return out


def redacted_file(path: str | Path, spans: Iterable[Mapping[str, Any]], mode: str, cache_dir: str | Path) -> Path:
    """A redacted WAV of `path` in `cache_dir` (rendered once per recording, spans and
    mode; served from disk so HTTP Range requests work)."""
    import hashlib
    import json
    import os

    path = Path(path)
    spans = list(spans)
    st = path.stat()
    key = hashlib.sha256(json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns, mode,
                                     [[s.get("start"), s.get("end")] for s in spans]]).encode()).hexdigest()[:32]
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{key}.wav"
    if not target.is_file():
        tmp = cache / f".{key}.{os.getpid()}.tmp"
        tmp.write_bytes(redacted_wav(path, spans, mode))
        os.replace(tmp, target)
    return target
