"""Telephone tones are nobody's speech (pipeline/speech/tones.py): keypad digits (DTMF) keyed by a caller and
the ringback before an outbound call's pickup, put into a recording around real voices from the sample calls
and passed through a telephone codec, are found and replaced by line noise before the voice activity, the
diarizer and the ASR hear them; speech is never taken for a tone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.speech.decode import load_audio
from callqa.pipeline.speech.tones import find_tones

SR = 16000
DIGITS = {d: (low, high) for row, low in zip(("123A", "456B", "789C", "*0#D"), (697, 770, 852, 941))
          for d, high in zip(row, (1209, 1336, 1477, 1633))}


def _tone(hz: tuple[float, ...], seconds: float, level: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (level / len(hz) * sum(np.sin(2 * np.pi * h * t) for h in hz)).astype(np.float32)


def _keypad(sequence: str, level: float, on: float = 0.08, off: float = 0.07) -> np.ndarray:
    parts = []
    for d in sequence:
        parts += [_tone(DIGITS[d], on, level), np.zeros(int(off * SR), np.float32)]
    return np.concatenate(parts)


def _write(path: Path, x: np.ndarray, codec: list[str]) -> Path:
    """`x` (channels, n) at 16 kHz through ffmpeg to 8 kHz with `codec`, as a telephone recorder keeps it."""
    raw = np.ascontiguousarray(x.T, dtype=np.float32).tobytes()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR), "-ac", str(x.shape[0]), "-i", "-",
                    "-ar", "8000", *codec, str(path)], input=raw, check=True)
    return path


@pytest.fixture(scope="module")
def voices(sample_calls_dir, config):
    """The first operator and client turns of the sample mono call, and their speech level (RMS)."""
    mono = load_audio(sample_calls_dir / "audio" / "en_mono_inbound.wav", config)
    truth = json.loads((sample_calls_dir / "truth" / "en_mono_inbound.json").read_text(encoding="utf-8"))
    x = mono.mono()
    op, cl = (x[int(t["start"] * SR):int(t["end"] * SR)] for t in truth["turns"][:2])
    return op, cl, float(np.sqrt(np.mean(op ** 2)))


def test_keypad_digits_on_the_client_channel_are_not_the_client_talking(voices, tmp_path, config):
    # An 8 kHz mu-law stereo call: the operator asks for the card number, the client keys 16 digits (no
    # word said), the operator reads back and the client answers.
    op, cl, level = voices
    gap, keys = 0.6, _keypad("4170592#" * 2, level * 2.5)
    n = int((0.5 + len(op) / SR + gap + len(keys) / SR + gap + len(op) / SR + 0.5 + len(cl) / SR + 0.5) * SR)
    x = np.zeros((2, n), np.float32)
    at = [int(0.5 * SR)]
    x[0, at[0]:at[0] + len(op)] = op
    at.append(at[0] + len(op) + int(gap * SR))
    x[1, at[1]:at[1] + len(keys)] = keys
    x[0, at[1]:at[1] + len(keys)] += 0.05 * keys  # the keying heard faintly on the operator's side
    at.append(at[1] + len(keys) + int(gap * SR))
    x[0, at[2]:at[2] + len(op)] = op
    at.append(at[2] + len(op) + int(0.5 * SR))
    x[1, at[3]:at[3] + len(cl)] = cl
    rng = np.random.default_rng(3)
    x += (rng.standard_normal(x.shape) * level * 10 ** (-40 / 20)).astype(np.float32)
    path = _write(tmp_path / "keyed.wav", x, ["-c:a", "pcm_mulaw"])
    keys_at = (at[1] / SR, (at[1] + len(keys)) / SR)

    audio = load_audio(path, config)
    assert any("16 keypad digits (DTMF)" in n and "right channel" in n for n in audio.notes), audio.notes
    assert any("16 keypad digits (DTMF)" in n and "left channel" in n for n in audio.notes)  # its faint copy
    kept = load_audio(path, load_config(None, overrides={"audio": {"silence_tones": False}}))
    assert not any("keypad" in n for n in kept.notes)
    a, b = int(keys_at[0] * SR), int(keys_at[1] * SR)
    for c in (0, 1):  # the keying is down to the line's noise on both sides ...
        assert np.sqrt(np.mean(audio.samples[c, a:b] ** 2)) < 2.5 * level * 10 ** (-40 / 20)
    voiced = np.ones(audio.samples.shape[1], bool)
    voiced[a - int(0.04 * SR):b + int(0.04 * SR)] = False
    assert np.array_equal(audio.samples[:, voiced], kept.samples[:, voiced])  # ... and the voices untouched


@pytest.mark.parametrize("hz, on, off, codec", [((425.0,), 1.0, 4.0, ["-c:a", "libgsm", "-ac", "1"]),
                                                ((440.0, 480.0), 2.0, 4.0, ["-c:a", "pcm_mulaw"])],
                         ids=["ringback-425Hz-gsm", "ringback-440+480Hz-mulaw"])
def test_the_ringback_before_the_pickup_is_replaced_and_the_voices_are_left_alone(voices, tmp_path, config,
                                                                                   hz, on, off, codec):
    # An outbound call recorded from the dialling: two rings of the ringback tone, then the conversation.
    op, cl, level = voices
    ring = np.concatenate([_tone(hz, on, level * 2), np.zeros(int(off * SR), np.float32)] * 2)
    talk = np.concatenate([op, np.zeros(int(0.5 * SR), np.float32), cl])
    x = np.concatenate([ring, talk])[None, :]
    rng = np.random.default_rng(4)
    x = x + (rng.standard_normal(x.shape) * level * 10 ** (-40 / 20)).astype(np.float32)
    path = _write(tmp_path / ("ring.gsm" if "libgsm" in codec else "ring.wav"), x, codec)

    audio = load_audio(path, config)
    label = "+".join(f"{h:.0f}" for h in hz)
    assert any(f"a {label} Hz tone (2x" in n for n in audio.notes), audio.notes
    kept = load_audio(path, load_config(None, overrides={"audio": {"silence_tones": False}}))
    start = len(ring) + int(0.05 * SR)
    assert np.array_equal(audio.samples[0, start:], kept.samples[0, start:])  # the voices, untouched
    for k in range(2):  # each ring now sits at the line's quiet level
        a, b = int((k * (on + off) + 0.1) * SR), int((k * (on + off) + on - 0.1) * SR)
        assert np.sqrt(np.mean(audio.samples[0, a:b] ** 2)) < 0.1 * np.sqrt(np.mean(kept.samples[0, a:b] ** 2))


def _no_tone_in(files, config) -> None:
    for path in files:
        audio = load_audio(path, config)
        assert not [n for n in audio.notes if "telephone tones" in n], path.name
        for c in range(audio.channels):
            assert find_tones(audio.channel(c), audio.rate) == [], path.name


def test_speech_is_never_taken_for_a_tone(sample_calls_dir, config):
    # Voices hold a harmonic steady for a syllable; the project's sample calls (espeak and piper voices,
    # 8-16 kHz, five codecs, English and Russian) have not one stretch of tone.
    files = sorted(p for d in ("audio", "ru_audio") for p in (sample_calls_dir / d).iterdir()
                   if not p.name.endswith(".json"))
    assert len(files) >= 7
    _no_tone_in(files, config)


def test_real_voices_are_never_taken_for_a_tone(real_data_dir, config):
    _no_tone_in(sorted(p for p in real_data_dir.iterdir() if p.suffix in (".wav", ".flac")), config)


def test_a_voice_whose_harmonics_sit_near_a_keypad_pair_is_no_digit():
    # The 3rd and 6th harmonics of a 279 Hz voice (838 + 1676 Hz, an octave apart) held for 100 ms are
    # within 3 % of "C" (852 + 1633 Hz); a fifth apart (860 + 1290 Hz) within 3 % of "8" (852 + 1336 Hz).
    # An overlap of two simulated voices had 82 ms of speech replaced by line noise for such a "digit".
    # A keypad off by Q.24's 1.5 % on both tones toward that ratio (839 + 1657 Hz) is still a digit.
    rng = np.random.default_rng(1)
    gap = np.zeros(SR // 4, np.float32)
    for hz, found in (((838.0, 1676.0), False), ((860.0, 1290.0), False), ((839.0, 1657.5), True),
                      ((839.0, 1290.0 * 1.015), True)):
        x = np.concatenate([gap, _tone(hz, 0.1, 0.2), gap])
        x = x + (rng.standard_normal(x.size) * 1e-3).astype(np.float32)
        assert [t.kind for t in find_tones(x, SR)] == (["dtmf"] if found else []), hz


def test_digits_inside_a_word_gap_are_found_one_by_one():
    # Eight digits, 80 ms each: every one is found, at its time, with its two frequencies; no digit is told.
    rng = np.random.default_rng(0)
    keys = _keypad("14709#35", 0.2)
    x = np.concatenate([np.zeros(SR // 2, np.float32), keys, np.zeros(SR // 2, np.float32)])
    x = x + (rng.standard_normal(x.size) * 1e-3).astype(np.float32)
    tones = find_tones(x, SR)
    assert [t.kind for t in tones] == ["dtmf"] * 8
    assert [t.hz for t in tones] == [tuple(float(h) for h in DIGITS[d]) for d in "14709#35"]
    for k, t in enumerate(tones):
        begin = 0.5 + k * 0.15
        assert begin - 0.03 <= t.start <= begin + 0.01 and begin + 0.07 <= t.end <= begin + 0.11


def test_a_model_that_hears_8khz_gets_the_digits_replaced_too(voices, tmp_path, config):
    # T-one hears an 8 kHz recording decoded again at 8 kHz (`samples_at`): the same spans are replaced there.
    from callqa.pipeline.speech.transcribe import samples_at

    op, _, level = voices
    keys = _keypad("0123", level * 2.5)
    x = np.concatenate([op, np.zeros(SR // 4, np.float32), keys, np.zeros(SR // 2, np.float32)])[None, :]
    x = x + (np.random.default_rng(6).standard_normal(x.shape) * level * 1e-2).astype(np.float32)
    audio = load_audio(_write(tmp_path / "keyed8k.wav", x, ["-c:a", "pcm_s16le"]), config)
    assert len(audio.tone_spans) == 4
    native = samples_at(audio, 8000)
    a, b = int(audio.tone_spans[0][1] * 8000), int(audio.tone_spans[-1][2] * 8000)
    assert abs(native.shape[1] - x.shape[1] // 2) <= 8  # decoded at 8 kHz, not resampled from 16
    assert np.sqrt(np.mean(native[0, a:b] ** 2)) < 3 * level * 1e-2


def test_digits_through_gsm_are_found_though_the_codec_wobbles_their_pitch(voices, tmp_path, config):
    # GSM 06.10 codes a keypad tone with its pitch wobbling a few Hz either way: judged by its spread from
    # the median, not its range, most digits still read as digits (here 14 of 16, by the range 10; on seed
    # 4242's GSM calls from `simulate.py --keypad`, 30 of 50, by the range 5).
    op, _, level = voices
    keys = _keypad("0123456789*#ABCD", level * 2.5, on=0.1, off=0.1)
    x = np.concatenate([op, np.zeros(SR // 3, np.float32), keys, np.zeros(SR // 2, np.float32)])[None, :]
    x = x + (np.random.default_rng(8).standard_normal(x.shape) * level * 1e-2).astype(np.float32)
    audio = load_audio(_write(tmp_path / "keyed.gsm", x, ["-c:a", "libgsm", "-ac", "1"]), config)
    digits = list(audio.tone_spans)
    assert len(digits) >= 12, audio.notes
    assert all(len(op) / SR < start for _, start, _ in digits)  # none in the operator's words


def test_a_mono_call_s_asr_hears_the_digits_the_analysis_replaced(voices, tmp_path, config, monkeypatch):
    # Line noise in place of a keypad digit changed Whisper's reading of the speech around it in mono
    # calls (seed 3699 --keypad: 14 calls over plain faster-whisper's WER, 1 with the tones kept): the ASR
    # hears the recording as decoded; the diarizer and the audio measures hear the digits replaced.
    import callqa.pipeline.speech.transcribe as tr
    from callqa.pipeline.speech.decode import tones_kept

    op, cl, level = voices
    keys = _keypad("0123", level * 2.5)
    x = np.concatenate([op, np.zeros(SR // 4, np.float32), keys, np.zeros(SR // 4, np.float32), cl])[None, :]
    x = x + (np.random.default_rng(7).standard_normal(x.shape) * level * 1e-2).astype(np.float32)
    audio = load_audio(_write(tmp_path / "keyed_mono.wav", x, ["-c:a", "pcm_s16le"]), config)
    assert len(audio.tone_spans) == 4
    a, b = int(audio.tone_spans[0][1] * SR), int(audio.tone_spans[-1][2] * SR)
    kept = tones_kept(audio, SR)
    assert kept is not None and kept.shape == audio.samples.shape
    assert np.sqrt(np.mean(kept[0, a:b] ** 2)) > 10 * np.sqrt(np.mean(audio.samples[0, a:b] ** 2))
    heard = []
    real = tr._decode_with
    monkeypatch.setattr(tr, "_decode_with", lambda backend, samples, *rest, **kw: (
        heard.append(np.array(samples)), real(backend, samples, *rest, **kw))[1])
    tr.transcribe_mono(audio, config, "en")
    assert np.sqrt(np.mean(heard[0][a:b] ** 2)) > 10 * np.sqrt(np.mean(audio.samples[0, a:b] ** 2))
    plain = load_audio(_write(tmp_path / "plain_mono.wav", x, ["-c:a", "pcm_s16le"]),
                       load_config(None, overrides={"audio": {"silence_tones": False}}))
    assert tones_kept(plain, SR) is None  # nothing replaced: the samples the analysis has
    assert np.array_equal(kept, plain.samples)  # the ASR hears the recording exactly as decoded
