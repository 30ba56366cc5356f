"""Decoding recordings (pipeline/speech/decode.py): formats, sample rates, channels kept apart,
and clear errors for input that cannot be used."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from callqa.pipeline.speech.decode import load_audio
from callqa.pipeline.config import load_config
from callqa.pipeline.errors import InputError

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@pytest.fixture(scope="module")
def config():
    """Decoding as such: the test signals are sine tones (440 Hz is a ringback), kept as they are here;
    telephone tones replaced are tests/test_tones.py's."""
    return load_config(overrides={"audio": {"silence_tones": False}})


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def _tone(path: Path, freq: float, seconds: float, rate: int, *extra: str) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"sine=f={freq}:d={seconds}:r={rate}", *extra, str(path))
    return path


def _stereo(path: Path, left: float, right: float, seconds: float, rate: int, *extra: str) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"sine=f={left}:d={seconds}:r={rate}",
            "-f", "lavfi", "-i", f"sine=f={right}:d={seconds}:r={rate}",
            "-filter_complex", "[0:a][1:a]join=inputs=2:channel_layout=stereo[a]", "-map", "[a]", *extra, str(path))
    return path


def _peak_hz(x: np.ndarray, rate: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1.0 / rate)[int(np.argmax(spec))])


@pytest.mark.parametrize("name, rate, extra", [
    ("tel.wav", 8000, ()),
    ("wide.wav", 16000, ()),
    ("cd.wav", 44100, ()),
    ("a.flac", 22050, ()),
    ("a.mp3", 44100, ("-c:a", "libmp3lame", "-b:a", "64k")),
    ("a.ogg", 48000, ("-c:a", "libopus", "-b:a", "32k")),
    ("a.m4a", 44100, ("-c:a", "aac", "-b:a", "64k")),
])
def test_formats_decode_to_16k_float_keeping_content(tmp_path, config, name, rate, extra):
    path = _tone(tmp_path / name, 440, 2.0, rate, *extra)
    audio = load_audio(path, config)
    assert audio.samples.dtype == np.float32
    assert audio.channels == 1 and audio.sample_rate == 16000
    assert abs(audio.duration_s - 2.0) < 0.1  # codecs pad a few ms
    assert audio.source.sample_rate == rate and audio.source.channels == 1
    assert audio.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert audio.source.path == str(path)
    assert abs(_peak_hz(audio.samples[0]) - 440) < 5  # resampled, not sped up or slowed down
    assert 0.05 < float(np.abs(audio.samples).max()) <= 1.0


def test_stereo_channels_are_kept_apart(tmp_path, config):
    path = _stereo(tmp_path / "call.wav", 440, 1000, 2.0, 8000)
    audio = load_audio(path, config)
    assert audio.channels == 2 and audio.samples.shape == (2, 32000)
    assert audio.source.channels == 2 and audio.source.sample_rate == 8000
    assert abs(_peak_hz(audio.samples[0]) - 440) < 5
    assert abs(_peak_hz(audio.samples[1]) - 1000) < 5
    assert audio.notes == ()


def test_stereo_mp3_channels_are_kept_apart(tmp_path, config):
    path = _stereo(tmp_path / "call.mp3", 300, 1200, 2.0, 44100, "-c:a", "libmp3lame", "-b:a", "96k")
    audio = load_audio(path, config)
    assert audio.channels == 2
    assert abs(_peak_hz(audio.samples[0]) - 300) < 5 and abs(_peak_hz(audio.samples[1]) - 1200) < 5


def test_mono_saved_as_stereo_is_treated_as_mono(tmp_path, config):
    path = _tone(tmp_path / "dual.flac", 440, 2.0, 16000, "-ac", "2")
    audio = load_audio(path, config)
    assert audio.source.channels == 2  # the file's truth is kept in the source record
    assert audio.channels == 1
    assert any("identical" in n for n in audio.notes)


def test_mono_saved_as_stereo_at_other_levels_inverted_or_late_is_still_mono(tmp_path, config, sample_calls_dir):
    """A recorder that saves a mono call as stereo with the sides at other levels, one side inverted or
    a few samples late: the channels differ sample by sample, so the call was taken for stereo, every
    word heard on both "sides" (a 9-turn call came out as 33 to 86 turns, 50 % talk each). The same
    signal up to gain, sign and a short shift is one channel; the louder one is kept."""
    import soundfile as sf

    x = load_audio(sample_calls_dir / "audio" / "en_mono_inbound.wav", config).mono()[: 16000 * 12]
    variants = {"levels": (x, 0.5 * x), "inverted": (x, -x), "late": (x, np.roll(x, 8)),
                "quieter_left_coded": (0.5 * x, x)}
    for name, (left, right) in variants.items():
        path = tmp_path / f"{name}.wav"
        sf.write(path, np.stack([left, right], axis=1), 16000, subtype="PCM_16")
        if name.endswith("_coded"):  # each side coded on its own at a low bit rate
            coded = tmp_path / f"{name}.mp3"
            _ffmpeg("-i", str(path), "-c:a", "libmp3lame", "-b:a", "48k", "-joint_stereo", "0", str(coded))
            path = coded
        audio = load_audio(path, config)
        assert audio.channels == 1, name
        assert any("identical" in n for n in audio.notes), (name, audio.notes)
        louder = np.abs(right if name != "levels" else left)  # the louder side is the one kept, not a mix
        assert float(np.abs(audio.samples[0]).max()) == pytest.approx(float(louder.max()), rel=0.15), name


def test_two_sides_sharing_bleed_and_a_side_that_only_carries_bleed_stay_stereo(tmp_path, config, sample_calls_dir):
    import soundfile as sf

    x = load_audio(sample_calls_dir / "audio" / "en_mono_inbound.wav", config).mono()
    op, cl = x[: 16000 * 10], x[16000 * 10: 16000 * 20]
    rng = np.random.default_rng(0)
    g = 10 ** (-6 / 20)  # strong bleed both ways
    sf.write(tmp_path / "bleed.wav", np.stack([op + g * cl, cl + g * op], axis=1), 16000)
    assert load_audio(tmp_path / "bleed.wav", config).channels == 2
    # a one-sided call: the client's side carries only the operator's bleed, 25 dB under (10 dB with an
    # echo canceller off), and line noise
    for under in (25, 10):
        quiet = 10 ** (-under / 20) * op + rng.standard_normal(op.size).astype(np.float32) * 1e-4
        sf.write(tmp_path / "one_sided.wav", np.stack([op, quiet], axis=1), 16000)
        assert load_audio(tmp_path / "one_sided.wav", config).channels == 2, under


def test_more_than_two_channels(tmp_path, config):
    import soundfile as sf

    t = np.arange(32000) / 16000.0
    a, b = 0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 900 * t)
    silent = np.zeros_like(t)
    # Two live channels among four: they are the two sides of the call.
    sf.write(tmp_path / "four.wav", np.stack([a, silent, b, silent], axis=1), 16000)
    audio = load_audio(tmp_path / "four.wav", config)
    assert audio.channels == 2 and audio.source.channels == 4
    assert abs(_peak_hz(audio.samples[0]) - 440) < 5 and abs(_peak_hz(audio.samples[1]) - 900) < 5
    # Three live channels: no way to know who is who, so one mixed channel (diarized later).
    sf.write(tmp_path / "three.wav", np.stack([a, b, a * 0.5], axis=1), 16000)
    audio = load_audio(tmp_path / "three.wav", config)
    assert audio.channels == 1 and "mono" in audio.notes[0]


def test_missing_file(tmp_path, config):
    with pytest.raises(InputError, match="no such file") as e:
        load_audio(tmp_path / "nope.wav", config)
    assert e.value.path.endswith("nope.wav")


def test_empty_file(tmp_path, config):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        load_audio(tmp_path / "empty.wav", config)


def test_text_file_named_wav(tmp_path, config):
    (tmp_path / "notes.wav").write_text("this is not a recording\n" * 20)
    with pytest.raises(InputError, match="not a readable audio file|not an audio file"):
        load_audio(tmp_path / "notes.wav", config)


def test_random_bytes_and_corrupt_mp3(tmp_path, config):
    rng = np.random.default_rng(1)
    (tmp_path / "noise.mp3").write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="corrupt|not a readable|not an audio"):
        load_audio(tmp_path / "noise.mp3", config)
    good = _tone(tmp_path / "good.mp3", 440, 3.0, 16000, "-c:a", "libmp3lame")
    data = bytearray(good.read_bytes())
    syncs = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0]
    for i in syncs[5:]:  # destroy the frame headers after the first few frames
        data[i:i + 4] = b"\x00\x00\x00\x00"
    (tmp_path / "bad.mp3").write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt") as e:
        load_audio(tmp_path / "bad.mp3", config)
    assert "bad.mp3" in str(e.value)


def test_a_file_cut_short_is_analysed_with_a_note_saying_so(tmp_path, config):
    """An upload that stopped half-way: the header still announces the whole call. What the file
    holds is analysed, and the audio notes say that the rest is missing (not a quiet short call)."""
    for ext, codec in (("mp3", "libmp3lame"),):  # (a cut WAV/Ogg shows its real length: nothing to say)
        whole = _tone(tmp_path / f"whole.{ext}", 440, 20.0, 8000, "-c:a", codec)
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 4])
        audio = load_audio(cut, config)
        assert audio.duration_s < 8.0
        assert any("cut short" in n and "header says 20." in n for n in audio.notes), (ext, audio.notes)
        assert not any("cut short" in n for n in load_audio(whole, config).notes)


def test_too_short(tmp_path, config):
    path = _tone(tmp_path / "blip.wav", 440, 0.2, 16000)
    with pytest.raises(InputError, match=r"too short: 0\.20 s.*min_duration_s"):
        load_audio(path, config)


def test_too_long(tmp_path):
    cfg = load_config(overrides={"audio": {"max_duration_s": 1.0}})
    path = _tone(tmp_path / "long.wav", 440, 3.0, 8000)
    with pytest.raises(InputError, match="too long.*max_duration_s"):
        load_audio(path, cfg)


def test_silence_only_is_valid_audio(tmp_path, config):
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "3", str(tmp_path / "hold.wav"))
    audio = load_audio(tmp_path / "hold.wav", config)
    assert audio.channels == 1 and abs(audio.duration_s - 3.0) < 0.01
    assert float(np.abs(audio.samples).max()) == 0.0


@pytest.mark.slow
def test_silence_only_yields_empty_transcript(tmp_path, config):
    from callqa.pipeline.speech.transcribe import transcribe_mono, transcribe_stereo

    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "4", str(tmp_path / "silence.wav"))
    audio = load_audio(tmp_path / "silence.wav", config)
    result = transcribe_mono(audio, config, None)
    assert result.segments == () and result.text == ""
    # Low-level hiss, as on a line on hold, must not turn into invented text either.
    import soundfile as sf

    hiss = (0.003 * np.random.default_rng(0).standard_normal((64000, 2))).astype(np.float32)
    sf.write(tmp_path / "hiss.wav", hiss, 16000)
    audio = load_audio(tmp_path / "hiss.wav", config)
    assert audio.channels == 2
    result = transcribe_stereo(audio, config, None)
    assert result.turns == () and result.segments == ()


def _two_sides(sample_calls_dir, config, turns: int = 4) -> tuple[np.ndarray, list[dict]]:
    """The first `turns` turns of the sample mono call, each side on its own channel with the other's
    bleed at -26 dB and line noise 35 dB under the speech."""
    import json

    x = load_audio(sample_calls_dir / "audio" / "en_mono_inbound.wav", config).mono()
    said = json.loads((sample_calls_dir / "truth" / "en_mono_inbound.json").read_text(encoding="utf-8"))["turns"]
    said = said[:turns]
    own = np.zeros((2, int((said[-1]["end"] + 1.0) * 16000)), np.float32)
    for t in said:
        a, b = int(t["start"] * 16000), int(t["end"] * 16000)
        own[0 if t["speaker"] == "operator" else 1, a:b] = x[a:b]
    mix = own + 10 ** (-26 / 20) * own[::-1]
    level = float(np.sqrt(np.mean(x[int(said[0]["start"] * 16000):int(said[0]["end"] * 16000)] ** 2)))
    mix += (np.random.default_rng(0).standard_normal(mix.shape) * level * 10 ** (-35 / 20)).astype(np.float32)
    return mix, said


def test_a_quiet_recording_is_raised_to_a_working_level(tmp_path, config, sample_calls_dir, monkeypatch):
    # A recorder whose gain was set 50 dB too low (16-bit PCM: the loud speech at -66 dBFS): Silero's VAD,
    # the bleed tests and the speech floors work on absolute levels and heard a quarter of the call (the
    # client's last turn not at all). Raised to a working level, both channels alike, it is heard as the
    # same call at a normal level is.
    import soundfile as sf

    from callqa.pipeline.signals.activity import channel_speech
    import callqa.pipeline.speech.decode as decode

    mix, said = _two_sides(sample_calls_dir, config)
    sf.write(tmp_path / "quiet.wav", (mix * 10 ** (-50 / 20)).T, 16000, subtype="PCM_16")
    sf.write(tmp_path / "normal.wav", mix.T, 16000, subtype="PCM_16")

    def heard(path) -> list[float]:
        audio = load_audio(path, config)
        spans = channel_speech(audio.samples, 16000, bleed_margin_db=8.0, floor_margin_db=4.0)
        return [sum(max(0.0, min(t["end"], y) - max(t["start"], x))
                    for x, y in spans[0 if t["speaker"] == "operator" else 1]) / (t["end"] - t["start"]) for t in said]

    audio = load_audio(tmp_path / "quiet.wav", config)
    assert any(n.startswith("quiet recording (loud speech at -6") and "raised by 4" in n for n in audio.notes)
    assert 20 * np.log10(np.max(np.abs(audio.samples))) > -12
    assert not any("quiet" in n for n in load_audio(tmp_path / "normal.wav", config).notes)
    quiet, normal = heard(tmp_path / "quiet.wav"), heard(tmp_path / "normal.wav")
    assert min(quiet) > 0.6 and all(abs(q - n) < 0.2 for q, n in zip(quiet, normal)), (quiet, normal)
    monkeypatch.setattr(decode, "QUIET_DBFS", -200.0)  # as before: not raised
    assert min(heard(tmp_path / "quiet.wav")) < 0.3


def test_line_noise_alone_and_digital_silence_are_not_raised(tmp_path, config):
    # Nothing over the line's own hiss: raising it would hand the VAD and the ASR loud noise to hear words in.
    import soundfile as sf

    hiss = (3e-4 * np.random.default_rng(1).standard_normal(16000 * 5)).astype(np.float32)  # -70 dBFS
    sf.write(tmp_path / "hiss.wav", hiss, 16000, subtype="PCM_16")
    audio = load_audio(tmp_path / "hiss.wav", config)
    assert audio.notes == () and audio.gain_db == 0.0
    assert float(np.max(np.abs(audio.samples))) < 0.01
