"""ASR per language through the backend interface: Russian routed to tiny random-weight onnx-asr
model directories (tests/asr_fixtures.py), English still on faster-whisper tiny.en; `callqa analyze`
and `callqa batch` end to end on sample_calls/ru_audio/; results name backend and model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("onnx")
from asr_fixtures import build_gigaam_ctc, build_gigaam_rnnt, build_tone  # noqa: E402

from callqa.cli import main  # noqa: E402
from callqa.pipeline.config import load_config  # noqa: E402
from callqa.pipeline.errors import ModelUnavailable  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RU_DIR = ROOT / "sample_calls" / "ru_audio"
RU_CALL = RU_DIR / "ru_good_inbound.flac"
EN_CALL = ROOT / "sample_calls" / "audio" / "en_good_inbound.flac"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("asr-models")
    return {"t-one": build_tone(root / "t-one"), "gigaam-v3-rnnt": build_gigaam_rnnt(root / "rnnt"),
            "gigaam-v3-ctc": build_gigaam_ctc(root / "ctc")}


def config_file(tmp_path: Path, ru: str, **asr) -> Path:
    path = tmp_path / "callqa.yaml"
    path.write_text(yaml.safe_dump({"models": {"asr": {"by_language": {"ru": ru, "en": "tiny.en"}, **asr}}}),
                    encoding="utf-8")
    return path


def _check_words(result: dict, duration: float) -> list[dict]:
    words = []
    for turn in result["transcript"]["turns"]:
        ws = turn.get("words") or []
        assert [w["start"] for w in ws] == sorted(w["start"] for w in ws), "words in order within a turn"
        assert all(0.0 <= w["start"] <= w["end"] <= duration + 1e-6 for w in ws), "word times inside the audio"
        assert all(turn["start"] - 1e-6 <= w["start"] and w["end"] <= turn["end"] + 1e-6 for w in ws)
        words += ws
    return words


def test_analyze_routes_russian_to_tone_at_8khz(tmp_path, models):
    out = tmp_path / "out"
    cfg = config_file(tmp_path, f"t-one:{models['t-one']}")
    assert main(["analyze", str(RU_CALL), "--out", str(out), "--config", str(cfg), "--no-progress"]) == 0
    result = json.loads((out / "ru_good_inbound.json").read_text(encoding="utf-8"))
    assert result["language"] == "ru"
    assert result["models"]["asr"] == "onnx-asr:t-one"
    asr = result["processing"]["asr"]
    assert asr["backend"] == "onnx-asr" and asr["model"] == "t-one" and asr["sample_rate"] == 8000
    assert "onnx-asr" in asr["versions"] and str(models["t-one"]) not in json.dumps(result)  # no server path
    words = _check_words(result, result["duration_s"])
    assert len(words) >= 10, "the tiny model's nonsense still flows through the whole pipeline"
    speakers = {t["speaker"] for t in result["transcript"]["turns"]}
    assert speakers == {"operator", "client"}  # channel map: both sides transcribed, each on its channel
    assert result["signals"] is not None and result["competencies"]


def test_an_8khz_recording_reaches_tone_without_resampling(tmp_path, models):
    """Telephony at 8 kHz is decoded again at 8 kHz for T-one: the same samples as the file."""
    import soundfile as sf

    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.transcribe import samples_at

    x, rate = sf.read(RU_CALL, dtype="float32", frames=16000 * 10)
    from scipy.signal import resample_poly

    x8 = resample_poly(x, 1, 2, axis=0).astype(np.float32)
    sf.write(tmp_path / "tel.wav", x8, 8000, subtype="FLOAT")
    audio = load_audio(tmp_path / "tel.wav", load_config())
    assert audio.sample_rate == 16000 and audio.source.sample_rate == 8000
    native = samples_at(audio, 8000)
    assert native.shape == (2, x8.shape[0])
    assert np.allclose(native, x8.T, atol=1e-6)


def test_stereo_channels_stay_apart(tmp_path, models):
    """Each side speaks in its own half of the recording: words of a channel lie in its half."""
    import soundfile as sf

    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.transcribe import transcribe_stereo

    x, rate = sf.read(RU_CALL, dtype="float32", frames=16000 * 40)
    half = 16000 * 21  # the operator's channel is quiet from 20 s to 24 s
    y = np.zeros_like(x)
    y[:half, 0] = x[:half, 0]
    y[half:, 1] = x[half:, 1]
    sf.write(tmp_path / "halves.wav", y, rate)
    cfg = load_config(str(config_file(tmp_path, f"gigaam-v3-rnnt:{models['gigaam-v3-rnnt']}")))
    audio = load_audio(tmp_path / "halves.wav", cfg)
    assert audio.channels == 2
    result = transcribe_stereo(audio, cfg, "ru")
    assert result.model == "onnx-asr:gigaam-v3-rnnt"
    by_channel = {0: [], 1: []}
    for turn in result.turns:
        by_channel[turn.channel] += list(turn.words)
    assert by_channel[0] and by_channel[1]
    assert all(w.end <= 21.0 for w in by_channel[0]), "channel 0 speaks only in the first half"
    assert all(w.start >= 20.5 for w in by_channel[1]), "channel 1 speaks only in the second half"


def test_mono_goes_through_the_same_backend(tmp_path, models):
    import soundfile as sf

    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.transcribe import transcribe_mono

    x, rate = sf.read(RU_CALL, dtype="float32", frames=16000 * 30)
    sf.write(tmp_path / "mono.wav", x.mean(axis=1), rate)
    cfg = load_config(str(config_file(tmp_path, f"gigaam-v3-rnnt:{models['gigaam-v3-rnnt']}")))
    audio = load_audio(tmp_path / "mono.wav", cfg)
    result = transcribe_mono(audio, cfg, "ru")
    words = [w for s in result.segments for w in s.words]
    assert words and result.backend["backend"] == "onnx-asr" and result.backend["sample_rate"] == 16000
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert all(0.0 <= w.start <= w.end <= audio.duration_s for w in words)


def test_english_still_goes_to_faster_whisper(tmp_path, models):
    from callqa.pipeline.process import process_call

    cfg = load_config(str(config_file(tmp_path, f"t-one:{models['t-one']}")))
    result = process_call(EN_CALL, cfg).serialize()
    assert result["language"] == "en" and result["models"]["asr"] == "faster-whisper:tiny.en"
    assert result["processing"]["asr"]["backend"] == "faster-whisper"
    text = " ".join(t["text"] for t in result["transcript"]["turns"]).lower()
    assert "maple" in text or "bank" in text  # real English words from the real model


def test_language_from_a_first_pass_when_no_metadata_says_it(tmp_path, models):
    """tiny.en is English-only: with Russian routed too, a first pass over the speech with each
    model decides; English speech goes to English."""
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.transcribe import transcribe_stereo

    cfg = load_config(str(config_file(tmp_path, f"t-one:{models['t-one']}")))
    audio = load_audio(EN_CALL, cfg)
    result = transcribe_stereo(audio, cfg, None)
    assert result.language == "en" and result.model == "faster-whisper:tiny.en"
    assert any("first pass" in n and "t-one" in n and "known words" in n for n in result.notes)
    assert 0.5 < result.language_probability <= 1.0


def test_known_word_share_tells_a_language_from_look_alikes():
    from types import SimpleNamespace

    from callqa.pipeline.speech.transcribe import known_word_share
    from callqa.pipeline.types import Word

    def segs(text):
        return [SimpleNamespace(words=[Word(w, 0.0, 1.0) for w in text.split()])]

    ru = "Здравствуйте, меня зовут Анна. Чем могу помочь? Ну вот, как бы, моя карта заблокирована."
    en = "Thank you for calling, my name is Anna. How can I help you today? My card was blocked."
    heard_as_ru = "тэнк ю фор колинг май нэйм из анна хау кэн ай хэлп"  # English speech through a Russian model
    assert known_word_share(segs(ru), "ru") > 0.9 and known_word_share(segs(en), "en") > 0.9
    assert known_word_share(segs(heard_as_ru), "ru") < 0.5
    assert known_word_share(segs(ru), "en") < 0.2 and known_word_share([], "ru") == 0.0


def test_no_model_for_the_language_names_it_and_the_key(tmp_path):
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.transcribe import transcribe_stereo

    cfg = load_config()  # tiny.en only
    audio = load_audio(RU_CALL, cfg)
    with pytest.raises(ModelUnavailable, match=r"'ru'.*models\.asr\.by_language\.ru"):
        transcribe_stereo(audio, cfg, "ru")


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_missing_or_corrupt_model_dir_names_the_path(tmp_path, capsys, models, damage):
    folder = tmp_path / "tone"
    if damage == "corrupt":
        shutil.copytree(models["t-one"], folder)
        (folder / "model.onnx").write_bytes(b"\x08\x01garbage")
    cfg = config_file(tmp_path, f"t-one:{folder}")
    assert main(["analyze", str(RU_CALL), "--out", str(tmp_path / "out"), "--config", str(cfg),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert str(folder) in err and "Traceback" not in err
    assert not (tmp_path / "out" / "ru_good_inbound.json").exists()


def test_batch_stores_russian_and_english_calls_with_their_backends(tmp_path, models):
    from callqa.pipeline.batch import run_batch
    from callqa.pipeline.identity import transcript_id
    from callqa.pipeline.store.db import Store

    box = tmp_path / "inbox"
    box.mkdir()
    for f in (RU_CALL, RU_CALL.with_suffix("").with_suffix(".meta.json"), EN_CALL,
              EN_CALL.with_suffix("").with_suffix(".meta.json")):
        shutil.copy(f, box / f.name)
    cfg = config_file(tmp_path, f"gigaam-v3-rnnt:{models['gigaam-v3-rnnt']}")
    summary = run_batch([box], tmp_path / "store", cfg)
    assert (summary.processed, summary.failed) == (2, 0)
    store = Store(tmp_path / "store")
    ru, en = store.get("ru_good_inbound"), store.get("en_good_inbound")
    assert ru["models"]["asr"] == "onnx-asr:gigaam-v3-rnnt" and en["models"]["asr"] == "faster-whisper:tiny.en"
    _check_words(ru, ru["duration_s"])
    # The transcript identity follows the model directory that serves Russian.
    (tmp_path / "x").mkdir()
    other = config_file(tmp_path / "x", f"gigaam-v3-ctc:{models['gigaam-v3-ctc']}")
    sha = ru["source"]["sha256"]
    assert transcript_id(sha, load_config(str(cfg))) != transcript_id(sha, load_config(str(other)))


@pytest.mark.slow
def test_callqa_batch_command_runs_russian_audio(tmp_path, models, monkeypatch):
    """`callqa batch` (the Prefect flow) on sample_calls/ru_audio/ with Russian routed to T-one."""
    from callqa.pipeline.store.db import Store

    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "data"))
    cfg = config_file(tmp_path, f"t-one:{models['t-one']}")
    store = tmp_path / "store"
    assert main(["batch", str(RU_DIR), "--store", str(store), "--config", str(cfg), "--no-progress"]) == 0
    call = Store(store).get("ru_good_inbound")
    assert call["models"]["asr"] == "onnx-asr:t-one"
    assert _check_words(call, call["duration_s"])


def test_demo_takes_russian_audio_only_when_a_model_serves_it(tmp_path, models):
    from callqa.commands.demo import serves_russian

    assert not serves_russian(load_config().section("models").asr)  # tiny.en only
    routed = load_config(str(config_file(tmp_path, f"t-one:{models['t-one']}"))).section("models").asr
    assert serves_russian(routed)
    (tmp_path / "m").mkdir()
    missing = load_config(str(config_file(tmp_path / "m", f"t-one:{tmp_path / 'nowhere'}"))).section("models").asr
    assert not serves_russian(missing)


def test_models_commands_list_each_language_and_verify_a_dir(tmp_path, capsys, models):
    cfg = config_file(tmp_path, f"gigaam-v3-ctc:{models['gigaam-v3-ctc']}")
    assert main(["models", "list", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "onnx-asr:gigaam-v3-ctc" in out and "faster-whisper:tiny.en" in out
    assert main(["models", "verify", "t-one", str(models["t-one"])]) == 0
    assert "8 kHz" in capsys.readouterr().out
    assert main(["models", "verify", "t-one", str(tmp_path / "absent")]) == 1
    assert str(tmp_path / "absent") in capsys.readouterr().err


def test_fillers_as_the_russian_onnx_models_write_them_are_counted(tmp_path):
    """GigaAM / T-one write lowercase letters without hyphens: "э-э" -> "ээ", "м-м" -> "мм"."""
    turns = [("operator", 0.5, 6.0, "здравствуйте ну вот ээ меня зовут анна мм как бы чем могу помочь"),
             ("client", 6.5, 9.0, "у меня карта не работает"),
             ("operator", 9.5, 14.0, "Ну, э-э, сейчас проверю. М-м, вот ваша карта.")]  # an e2e model's spelling
    data = {"call_id": "ru-fillers", "language": "ru", "operator_id": "op-1", "role": "inbound",
            "turns": [{"speaker": s, "start": a, "end": b, "text": t} for s, a, b, t in turns]}
    src = tmp_path / "ru-fillers.json"
    src.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["analyze", str(src), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    result = json.loads((tmp_path / "out" / "ru-fillers.json").read_text(encoding="utf-8"))
    found = sorted(i["text"] for i in result["signals"]["filler_words"]["items"])
    # first turn: ну, вот, ээ, мм, как бы; last turn: ну, э-э, м-м ("вот ваша" points: not a filler)
    assert found == sorted(["ну", "вот", "э", "м-м", "как бы", "ну", "э", "м-м"])
