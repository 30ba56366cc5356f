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
    assert [f["id"] for f in data["flags"]] == ["asr_no_words"]
    reason = data["flags"][0]["reason"]
    assert reason.startswith("Speech found (") and "tiny.en" in reason and "by_language" in reason
    info = data["processing"]["asr_no_words"]
    assert info["speech_s"] >= 3.0 and "tiny.en" in info["model"]
    assert any("speech found" in n for n in data["processing"]["asr_notes"])
    assert data["processing"]["scoring"]["not_scored"].startswith("asr_no_words")
    assert all(i["score"] is None for i in data["indicators"])
    assert all(c["score"] is None for c in data["competencies"])
