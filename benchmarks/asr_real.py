"""ASR accuracy on real recordings and on the English sample calls.

- ../shared/data/real/jfk.flac: WER against the reference in that folder's README;
- ../shared/data/real/stereo_diarization.wav: WER per channel (one speaker each);
- sample_calls/ (English, exact truth): WER and filler-word recall with and without
  the filler prompt (`models.asr.initial_prompt`), so the prompt's effect is measured,
  not assumed.

    .venv/bin/python benchmarks/asr_real.py [--config FILE] [--no-sample-calls] [--calls ID ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"
JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
STEREO = ("He began a confused complaint against the wizard, who had vanished behind the curtain on the left.",
          "The horizon seems extremely distant.")
# Unambiguous English fillers (as normalised by wer_text); "like" / "so" need context, left out.
FILLERS = ("um", "uh", "er", "erm", "hm", "you know", "i mean", "basically")


def wer(ref: str, hyp: str, language: str = "en") -> float:
    import jiwer

    from callqa.pipeline.speech.transcribe import wer_text

    return jiwer.wer(wer_text(ref, language), wer_text(hyp, language))


def filler_counts(text: str) -> Counter:
    from callqa.pipeline.speech.transcribe import wer_text

    padded = f" {wer_text(text)} "
    return Counter({f: padded.count(f" {f} ") for f in FILLERS if padded.count(f" {f} ")})


def transcribe_file(path: Path, config) -> tuple[str, list[str], float]:
    """(whole text, text per channel, seconds)."""
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.transcribe import transcribe_mono, transcribe_stereo

    t0 = time.perf_counter()
    audio = load_audio(path, config)
    if audio.channels == 2:
        res = transcribe_stereo(audio, config, "en")
        per = [" ".join(t.text for t in res.turns if t.channel == c) for c in (0, 1)]
        return " ".join(t.text for t in res.turns), per, time.perf_counter() - t0
    res = transcribe_mono(audio, config, "en")
    return res.text, [res.text], time.perf_counter() - t0


def real_recordings(config) -> None:
    if not REAL.is_dir():
        print(f"real recordings: {REAL} is absent, skipped")
        return
    text, _, secs = transcribe_file(REAL / "jfk.flac", config)
    print(f"jfk.flac                    WER {wer(JFK, text):.3f}  ({secs:.1f} s)  hyp: {text}")
    _, per, secs = transcribe_file(REAL / "stereo_diarization.wav", config)
    for c, (ref, hyp) in enumerate(zip(STEREO, per)):
        print(f"stereo_diarization.wav ch{c}  WER {wer(ref, hyp):.3f}  ({secs:.1f} s)  hyp: {hyp}")


def sample_calls(config_file: str | None, only: list[str]) -> None:
    from callqa.pipeline.config import load_config

    truth_dir = ROOT / "sample_calls" / "truth"
    calls = []
    for tp in sorted(truth_dir.glob("*.json")) if truth_dir.is_dir() else []:
        truth = json.loads(tp.read_text(encoding="utf-8"))
        if truth.get("kind", "audio") != "audio" or truth.get("language") != "en":
            continue
        if only and truth.get("call_id") not in only:
            continue
        src = ROOT / "sample_calls" / truth["source"] if truth.get("source") else None
        if src is None or not src.is_file():
            continue
        ref = " ".join(t["text"] for t in sorted(truth["turns"], key=lambda t: t["start"]))
        calls.append((truth["call_id"], src, ref))
    if not calls:
        print("sample calls: none with English truth found, skipped")
        return
    variants = {"with prompt": load_config(config_file),
                "no prompt": load_config(config_file, overrides={"models": {"asr": {"use_initial_prompt": False}}})}
    print(f"\n{'call':28s} {'variant':12s} {'WER':>6s} {'fillers':>9s} {'recall':>7s} {'extra':>5s}  time")
    totals = {v: [0, 0, 0.0, 0, 0] for v in variants}  # found, true fillers, errors*words, words, extra fillers
    for call_id, src, ref in calls:
        truth_f = filler_counts(ref)
        n_words = len(ref.split())
        for name, cfg in variants.items():
            hyp, _, secs = transcribe_file(src, cfg)
            hyp_f = filler_counts(hyp)
            found = sum(min(hyp_f[f], n) for f, n in truth_f.items())
            true = sum(truth_f.values())
            extra = sum(max(0, n - truth_f.get(f, 0)) for f, n in hyp_f.items())  # invented fillers
            w = wer(ref, hyp)
            t = totals[name]
            t[0] += found
            t[1] += true
            t[2] += w * n_words
            t[3] += n_words
            t[4] += extra
            recall = f"{found / true:.2f}" if true else "  -"
            print(f"{call_id:28s} {name:12s} {w:6.3f} {found:>4d}/{true:<4d} {recall:>7s} {extra:>5d}  {secs:.1f} s")
    print()
    for name, (found, true, err, words, extra) in totals.items():
        recall = f"{found / true:.2f}" if true else "-"
        print(f"ALL {len(calls)} calls, {name:12s}: WER {err / max(words, 1):.3f} (word-weighted), "
              f"filler recall {recall} ({found}/{true}), invented fillers {extra}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML deep-merged over configs/")
    ap.add_argument("--no-sample-calls", action="store_true")
    ap.add_argument("--calls", nargs="*", default=[], help="only these sample call ids")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from callqa.pipeline.config import load_config

    config = load_config(args.config)
    print(f"model: {config.section('models').asr.model}")
    real_recordings(config)
    if not args.no_sample_calls:
        sample_calls(args.config, args.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
