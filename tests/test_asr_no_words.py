"""Speech the ASR writes no words for (a Russian call, only the English tiny.en configured, no
language in metadata) is flagged `asr_no_words` with the seconds of speech and the model, not a
silent `no_speech`; nothing is scored."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from pathlib import Path

from callqa.cli import main

RU = Path(__file__).resolve().parent.parent / "sample_calls" / "ru_audio" / "ru_good_inbound.flac"

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def _clip(src, dst, seconds: float = 8.0):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-t", str(seconds),
                    "-ac", "1", str(dst)], check=True)
    return dst


def test_russian_speech_through_english_model_is_asr_no_words_not_no_speech(tmp_path, capsys):
    from callqa.pipeline.config import load_config

    asr = load_config().section("models").asr
    if asr.model != "tiny.en" or asr.by_language or asr.language != "auto":
        pytest.skip("needs the default English-only ASR configuration (models.asr.model: tiny.en)")
    wav = _clip(RU, tmp_path / "ru_call.wav")  # no sidecar: no language in metadata
    out = tmp_path / "out"
    assert main(["analyze", str(wav), "--out", str(out), "--no-progress"]) == 0, capsys.readouterr().err
    data = json.loads((out / "ru_call.json").read_text(encoding="utf-8"))
    ids = [f["id"] for f in data["flags"]]
    assert ids[0] == "asr_no_words" and set(ids) <= {"asr_no_words", "role_uncertain"}, ids
    if data["transcript"]["role_confidence"] < load_config().section("role_assignment").min_confidence:
        # the voices' talk time is kept, but without a word whose it is stays unknown (not the operator's)
        assert "role_uncertain" in ids
    reason = data["flags"][0]["reason"]
    assert reason.startswith("Speech found (") and "tiny.en" in reason and "by_language" in reason
    info = data["processing"]["asr_no_words"]
    assert info["speech_s"] >= 3.0 and "tiny.en" in info["model"]
    assert any("speech found" in n for n in data["processing"]["asr_notes"])
    assert data["processing"]["scoring"]["not_scored"].startswith("asr_no_words")
    assert all(i["score"] is None for i in data["indicators"])
    assert all(c["score"] is None for c in data["competencies"])
    # the words are withheld, who spoke when is kept: the speech as turns without text
    turns = data["transcript"]["turns"]
    assert turns and all(t["text"] == "" for t in turns)
    assert sum(t["end"] - t["start"] for t in turns) >= 0.5 * info["speech_s"]


def test_stray_words_of_a_model_that_cannot_read_the_call_are_not_credible():
    """What tiny.en wrote for 8 s of Russian differs by CPU: 24 looped words on one machine,
    "and thank you very much. Thank you very much." (9 words, avg log-prob -1.08, word
    probabilities 0.13-1.0, arithmetic mean 0.59) on another. Neither is a transcript; an unsure
    segment of varied real words still is."""
    from callqa.pipeline.settings import HallucinationGuard
    from callqa.pipeline.speech.transcribe import AsrResult, AsrSegment, credible_word_count
    from callqa.pipeline.types import Word

    def seg(text, probs, logprob=-1.08, start=0.0):
        words = tuple(Word(w, start + i * 0.4, start + i * 0.4 + 0.3, p)
                      for i, (w, p) in enumerate(zip(text.split(), probs)))
        return AsrSegment(start, start + 4.0, text, words, logprob, 0.3, 1.5, None)

    guard = HallucinationGuard()

    def credible(*segments):
        return credible_word_count(AsrResult(segments=segments, turns=(), language="en", language_probability=1.0,
                                             model="tiny.en"), guard)

    loop = seg("and thank you very much. Thank you very much.", [0.18, 0.13, 0.99, 0.31, 0.99, 0.27, 0.99, 0.48, 1.0])
    assert credible(loop) == 0
    again = seg("thank you very much", [0.6, 0.9, 0.9, 0.9], start=5.0)
    assert credible(seg("okay and thank you very much", [0.9] * 6, logprob=-0.3), again) == 6  # a repeat, unsure
    garbled = seg("I would like to check the balance on my team", [0.7, 0.6, 0.8, 0.5, 0.6, 0.7, 0.9, 0.6, 0.8, 0.4])
    assert credible(garbled) == 10  # unsure, but varied words the model mostly believes
    assert credible(seg("the fee, the fee, the fee was added", [0.9] * 8, logprob=-0.4)) == 8  # sure: counts
