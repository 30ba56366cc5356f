"""Loudness from audio: per-speaker level on 0..100, raised-voice turns as evidence; none for imports."""

from __future__ import annotations

import numpy as np
import pytest

from callqa.pipeline.speech.decode import Audio
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.types import AudioSource, Transcript, Turn

SR = 16000


def tone(amp, seconds, freq=220.0):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def place(buf, start, sig):
    a = int(start * SR)
    buf[a:a + len(sig)] += sig


def audio_of(samples):
    src = AudioSource(path="x.wav", sha256="0", sample_rate=SR, channels=samples.shape[0],
                      duration_s=samples.shape[1] / SR)
    return Audio(samples=samples, source=src, rate=SR)


TURNS = [("operator", 0.0, 3.0, "Добрый день, слушаю вас."), ("client", 3.5, 6.5, "У меня вопрос по карте."),
         ("operator", 7.0, 10.0, "Сейчас посмотрю."), ("client", 10.5, 13.5, "Вы что, издеваетесь?!"),
         ("operator", 14.0, 17.0, "Нет, что вы."), ("client", 17.5, 20.5, "Ладно, жду.")]


def transcript(stereo):
    return Transcript(turns=tuple(Turn(s, a, b, t, channel=(0 if s == "operator" else 1) if stereo else None)
                                  for s, a, b, t in TURNS), language="ru", duration_s=21.0)


def test_stereo_levels_and_a_raised_voice(config):
    x = np.zeros((2, 21 * SR), dtype=np.float32)
    for s, a, b, _ in TURNS:
        amp = 0.1 if s == "operator" else (0.4 if a == 10.5 else 0.05)  # the client shouts once (+18 dB)
        place(x[0 if s == "operator" else 1], a, tone(amp, b - a))
    x[0] += tone(0.01, 21.0, 50.0)  # crosstalk / hum must not count for the silent stretches
    s = compute_signals(transcript(True), config, audio=audio_of(x)).serialize()["loudness"]
    # a sine of amplitude A has power A^2/2: 0.1 -> -23 dBFS -> (60-23)/60*100 = 61.7
    assert s["operator"] == pytest.approx(61.7, abs=1.0)
    assert s["client"] == pytest.approx(51.6, abs=1.0)  # median of -29, -29, -11 dBFS
    (rv,) = s["raised_voice"]
    assert (rv["speaker"], rv["start"], rv["turn"]) == ("client", 10.5, 3) and "издеваетесь" in rv["quote"]
    assert rv["level"] > s["client"] + 10


def test_mono_uses_turn_times(config):
    x = np.zeros((1, 21 * SR), dtype=np.float32)
    for s, a, b, _ in TURNS:
        place(x[0], a, tone(0.1 if s == "operator" else 0.05, b - a))
    s = compute_signals(transcript(False), config, audio=audio_of(x)).serialize()["loudness"]
    assert s["operator"] > s["client"] and s["raised_voice"] == []


def test_transcript_import_has_no_loudness(config):
    assert compute_signals(transcript(False), config).serialize()["loudness"] is None
