"""Transcribe the English sample recordings with the project's ASR (Whisper tiny.en,
faster-whisper, int8, beam 1, word timestamps, VAD filter) and report, per call,
the word error rate against the truth and how many planted filler words survive,
with the filler prompt (the default) and without it.

    .venv/bin/python sample_calls/check_asr.py [CALL_ID ...] [-v]

Stereo calls go through `transcribe_stereo` (each channel on its own), mono calls
through `transcribe_mono`, exactly as `tests/test_asr.py` does; WER uses the
pipeline's `wer_text` normaliser (numbers as words, no punctuation).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _count(text: str, phrase: str) -> int:
    return len(re.findall(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text))


def main(argv: list[str] | None = None) -> int:
    import jiwer

    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.config import load_config
    from callqa.pipeline.speech.transcribe import transcribe_mono, transcribe_stereo, wer_text

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ids", nargs="*")
    p.add_argument("--verbose", "-v", action="store_true")
    p.add_argument("--root", type=Path, default=HERE, help="folder with truth/ and audio/")
    p.add_argument("--no-compare", action="store_true", help="only the default (prompted) run")
    args = p.parse_args(argv)
    configs = {"prompt": load_config()}
    if not args.no_compare:
        configs["no_prompt"] = load_config(overrides={"models": {"asr": {"use_initial_prompt": False}}})
    for tp in sorted((args.root / "truth").glob("*.json")):
        truth = json.loads(tp.read_text(encoding="utf-8"))
        if truth.get("kind") != "audio" or truth["language"] != "en":
            continue
        if args.ids and truth["call_id"] not in args.ids:
            continue
        ref_text = " ".join(t["text"] for t in sorted(truth["turns"], key=lambda t: t["start"]))
        ref = wer_text(ref_text)
        fillers = [f["text"].lower() for f in truth["planted"].get("fillers", [])]
        row = [f"{truth['call_id']:20s}"]
        for name, config in configs.items():
            t0 = time.perf_counter()
            audio = load_audio(args.root / truth["source"], config)
            if audio.channels == 2:
                res = transcribe_stereo(audio, config, "en")
                hyp_text = " ".join(t.text for t in res.turns)
            else:
                hyp_text = transcribe_mono(audio, config, "en").text
            hyp = wer_text(hyp_text)
            cell = f"{name}: wer={jiwer.wer(ref, hyp):.3f}"
            if fillers:
                low = " ".join(re.findall(r"[\w']+", hyp_text.lower()))
                found = sum(min(_count(low, f), fillers.count(f)) for f in set(fillers))
                cell += f" fillers={found}/{len(fillers)}"
            cell += f" ({time.perf_counter() - t0:.0f}s)"
            row.append(cell)
            if args.verbose:
                print(f"  [{name}] HYP: {hyp_text}")
        if args.verbose:
            print(f"  REF: {ref_text}")
        print("  ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
