"""How much does callqa add on top of plain faster-whisper?

In one run, on the same file and the same loaded model with the same options:

  callqa  = load_audio(file) + transcribe_audio(...)  (decode, ASR, diarization or stereo merge, roles)
  plain   = WhisperModel.transcribe(file, **same options), generator consumed

and prints callqa / plain (targets: <= 1.15 mono, <= 1.3 stereo). Runs alternate and
the median of each is used, so a busy machine affects both alike.

Then the peak memory (ru_maxrss of a child process) of the callqa path on a long call
built by repeating a sample call (`--minutes`, default 60; target < 3 GB).

    .venv/bin/python benchmarks/asr_overhead.py [--mono FILE] [--stereo FILE] [--repeat 3] [--minutes 60]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"


def _sample_call(channels: int) -> Path | None:
    """The longest sample call with `channels` channels, if any."""
    import soundfile as sf

    audio_dir = ROOT / "sample_calls" / "audio"
    best: tuple[float, Path] | None = None
    for p in sorted(audio_dir.glob("*")) if audio_dir.is_dir() else []:
        try:
            info = sf.info(str(p))
        except Exception:
            continue
        if info.channels == channels and (best is None or info.duration > best[0]):
            best = (info.duration, p)
    return best[1] if best else None


def _default(channels: int) -> Path:
    found = _sample_call(channels)
    if found:
        return found
    fallback = REAL / ("katiesteve.wav" if channels == 1 else "stereo_diarization.wav")
    if fallback.is_file():
        return fallback
    sys.exit(f"no {'mono' if channels == 1 else 'stereo'} file found: pass --{'mono' if channels == 1 else 'stereo'}")


def measure_ratio(path: Path, config, repeat: int) -> dict:
    import ctranslate2

    from callqa.pipeline.speech.asr import forget_vad
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.process import transcribe_audio
    from callqa.pipeline.speech.transcribe import asr_options, choose_language, load_model, whisper_kwargs
    from callqa.pipeline.types import CallMeta

    opts = asr_options(config)
    model = load_model(opts)  # the one cached model both paths use
    audio = load_audio(path, config)
    language, _ = choose_language(model, None, audio.mono(), opts)
    kwargs = whisper_kwargs(opts, language)

    def timed(fn) -> tuple[float, float]:
        """(wall s, CPU s of this process and its children, e.g. ffmpeg)."""
        ctranslate2.set_random_seed(0)  # temperature fallback samples: same draws on both sides
        forget_vad()  # no speech probabilities remembered from an earlier run of the same file
        c0 = time.process_time() + _children_cpu()
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0, time.process_time() + _children_cpu() - c0

    def ours() -> None:
        transcribe_audio(load_audio(path, config), config, CallMeta())

    def plain() -> None:
        segments, _ = model.transcribe(str(path), **kwargs)
        for _ in segments:
            pass

    timed(ours), timed(plain)  # warm-up: lazy model loads (VAD, speaker encoder), caches
    r_ours, r_plain = [], []
    for _ in range(repeat):
        r_plain.append(timed(plain))
        r_ours.append(timed(ours))
    wall_o, wall_p = statistics.median(r[0] for r in r_ours), statistics.median(r[0] for r in r_plain)
    cpu_o, cpu_p = statistics.median(r[1] for r in r_ours), statistics.median(r[1] for r in r_plain)
    return {"file": str(path), "channels": audio.channels, "duration_s": round(audio.duration_s, 1),
            "callqa_s": round(wall_o, 3), "plain_s": round(wall_p, 3), "ratio": round(wall_o / wall_p, 3),
            "callqa_cpu_s": round(cpu_o, 3), "plain_cpu_s": round(cpu_p, 3), "cpu_ratio": round(cpu_o / cpu_p, 3),
            "runs_callqa": [round(r[0], 2) for r in r_ours], "runs_plain": [round(r[0], 2) for r in r_plain]}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def build_long_call(source: Path, minutes: float, out: Path) -> Path:
    """`source` looped to `minutes`, written as 16-bit PCM WAV whatever the source's container
    (PCM cannot go into an Ogg/MP3 container, so `out` always gets a .wav suffix)."""
    out = out.with_suffix(".wav")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source),
                    "-t", str(minutes * 60), "-c:a", "pcm_s16le", "-f", "wav", str(out)], check=True)
    return out


def _child(path: str, config_file: str | None) -> None:
    """Runs in a subprocess: the callqa path on one file; prints a JSON line."""
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import transcribe_audio
    from callqa.pipeline.types import CallMeta

    config = load_config(config_file)
    t0 = time.perf_counter()
    audio = load_audio(path, config)
    transcript, _, _ = transcribe_audio(audio, config, CallMeta())
    print(json.dumps({"wall_s": round(time.perf_counter() - t0, 1), "turns": len(transcript.turns),
                      "duration_s": round(audio.duration_s, 1)}))


def measure_memory(source: Path, minutes: float, config_file: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        long_call = build_long_call(source, minutes, Path(tmp) / "long.wav")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        cmd = [sys.executable, __file__, "--_child", str(long_call)] + (["--config", config_file] if config_file else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if proc.returncode != 0:
            sys.exit(f"child failed:\n{proc.stderr[-3000:]}")
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        info = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"source": str(source), "minutes": minutes, "peak_rss_mb": round(max(peak_kb, before) / 1024, 1), **info}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mono", type=Path, help="mono file (default: longest mono sample call, else katiesteve.wav)")
    ap.add_argument("--stereo", type=Path, help="stereo file (default: longest stereo sample call)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the memory test call (0: skip)")
    ap.add_argument("--skip-ratio", action="store_true")
    ap.add_argument("--config", help="YAML deep-merged over configs/")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    if args._child:
        _child(args._child, args.config)
        return 0
    from callqa.pipeline.config import load_config

    config = load_config(args.config)
    mono = args.mono or _default(1)
    stereo = args.stereo or _default(2)
    if not args.skip_ratio:
        for label, path, target in (("mono", mono, 1.15), ("stereo", stereo, 1.3)):
            r = measure_ratio(path, config, args.repeat)
            verdict = "ok" if r["ratio"] <= target else "OVER TARGET"
            print(f"{label:6s} {Path(r['file']).name} ({r['duration_s']} s, {r['channels']} ch): callqa "
                  f"{r['callqa_s']:.2f} s / plain faster-whisper {r['plain_s']:.2f} s = {r['ratio']:.2f} "
                  f"(target <= {target}) {verdict}")
            print(f"       CPU time (robust on a busy machine): callqa {r['callqa_cpu_s']:.2f} s / plain "
                  f"{r['plain_cpu_s']:.2f} s = {r['cpu_ratio']:.2f}; wall runs callqa {r['runs_callqa']} "
                  f"plain {r['runs_plain']}")
    if args.minutes > 0:
        m = measure_memory(mono, args.minutes, args.config)
        verdict = "ok" if m["peak_rss_mb"] < 3072 else "OVER TARGET"
        print(f"memory {args.minutes:g}-minute call from {Path(m['source']).name}: peak RSS {m['peak_rss_mb']:.0f} MB "
              f"(target < 3072 MB) {verdict}; wall {m['wall_s']} s, {m['turns']} turns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
