"""onnx-asr models (GigaAM-v3 CTC and RNN-T, T-one) loaded and decoded for real from tiny random-weight
directories (tests/asr_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callqa.pipeline.speech.asr_onnx import load_onnx_model, verify_model_dir

RU_CALL = Path(__file__).resolve().parent.parent / "sample_calls" / "ru_audio" / "ru_good_inbound.flac"
from callqa.pipeline.errors import ModelUnavailable

onnx = pytest.importorskip("onnx")
from asr_fixtures import RU_LETTERS, build_gigaam_ctc, build_gigaam_rnnt, build_tone  # noqa: E402


def test_missing_and_incomplete_dirs_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=str(tmp_path / "nope")):
        verify_model_dir("gigaam-v3-ctc", tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "v3_vocab.txt").write_text("a 0\n")
    with pytest.raises(ModelUnavailable, match=r"half.*v\?_ctc\.onnx"):
        verify_model_dir("gigaam-v3-ctc", tmp_path / "half")


def test_corrupt_model_file_names_the_dir(tmp_path: Path) -> None:
    folder = build_gigaam_ctc(tmp_path / "bad")
    (folder / "v3_ctc.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelUnavailable, match=str(folder)):
        load_onnx_model("gigaam-v3-ctc", str(folder))


def test_tiny_gigaam_decodes_with_ordered_times_inside_audio(tmp_path: Path) -> None:
    folder = build_gigaam_ctc(tmp_path / "gigaam")
    model = load_onnx_model("gigaam-v3-ctc", str(folder))
    rng = np.random.default_rng(1)
    seconds = 6.0
    wave = (rng.normal(0, 0.1, int(16_000 * seconds))).astype(np.float32)
    result = model.recognize(wave, sample_rate=16_000)
    assert result.tokens, "a random-weight model still emits tokens"
    assert all(ch in RU_LETTERS + " " for ch in result.text)
    times = result.timestamps
    assert len(times) == len(result.tokens) == len(result.logprobs)
    assert times == sorted(times) and 0.0 <= times[0] and times[-1] <= seconds
    assert all(lp <= 0.0 for lp in result.logprobs)


def test_backend_long_audio_chunks_map_times_back(tmp_path: Path) -> None:
    from callqa.pipeline.speech.asr_backend import MAX_CHUNK_S, OnnxAsrBackend, quiet_cuts

    folder = build_gigaam_ctc(tmp_path / "g2", seed=3)
    backend = OnnxAsrBackend("gigaam-v3-ctc", str(folder))
    rng = np.random.default_rng(2)
    seconds = 60.0
    wave = rng.normal(0, 0.1, int(16_000 * seconds)).astype(np.float32)
    cuts = quiet_cuts(wave, 16_000)
    assert len(cuts) >= 3 and all((b - a) / 16_000 <= MAX_CHUNK_S for a, b in cuts)
    segs = backend.transcribe(wave, "ru")
    words = [w for s in segs for w in s.words]
    assert words and words[-1].end > 40.0, "words from the last chunk sit late in the recording"
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(0.0 <= w.start <= w.end <= seconds for w in words)
    assert all(0.0 < w.probability <= 1.0 for w in words)
    assert backend.info().serialize()["backend"] == "onnx-asr"


def test_tiny_tone_at_8khz(tmp_path: Path) -> None:
    from callqa.pipeline.speech.asr_backend import OnnxAsrBackend

    backend = OnnxAsrBackend("t-one", str(build_tone(tmp_path / "tone")))
    assert backend.sample_rate == 8_000
    seconds = 30.0
    wave = np.random.default_rng(4).normal(0, 0.1, int(8_000 * seconds)).astype(np.float32)
    words = [w for s in backend.transcribe(wave, "ru") for w in s.words]
    assert words and words[-1].end > 25.0
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(0.0 <= w.start <= w.end <= seconds for w in words)


def test_routing_by_language(tmp_path: Path) -> None:
    from callqa.pipeline.speech.asr_backend import onnx_backend_for

    table = {"ru": f"gigaam-v3-ctc:{tmp_path}", "en": "tiny.en"}
    assert onnx_backend_for("ru", table).kind == "gigaam-v3-ctc"
    assert onnx_backend_for("en", table) is None  # English stays on faster-whisper
    with pytest.raises(ModelUnavailable, match=r"'de'.*asr\.by_language\.de"):
        onnx_backend_for("de", table)


def test_pull_without_internet_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    from callqa.pipeline.speech.asr_onnx import pull_onnx_model

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable, match=r"t-one.*t-tech/t-one"):
        pull_onnx_model("t-one", tmp_path / "tone")
    with pytest.raises(ModelUnavailable, match="unknown onnx ASR model kind"):
        pull_onnx_model("gigaam-v9", tmp_path / "x")


@pytest.mark.parametrize("kind", ["gigaam-v3-rnnt", "gigaam-v3-e2e-rnnt"])
def test_tiny_rnnt_decodes_through_the_backend(tmp_path: Path, kind: str) -> None:
    from callqa.pipeline.speech.asr_backend import OnnxAsrBackend

    folder = build_gigaam_rnnt(tmp_path / kind, seed=5, e2e="e2e" in kind)
    verify_model_dir(kind, folder)
    backend = OnnxAsrBackend(kind, str(folder))
    import soundfile as sf

    stereo, rate = sf.read(RU_CALL, dtype="float32", frames=16_000 * 20)
    assert rate == 16_000
    wave = np.ascontiguousarray(stereo[:, 0])
    seconds = wave.shape[0] / 16_000
    words = [w for s in backend.transcribe(wave, "ru") for w in s.words]
    assert len(words) >= 3, "speech with pauses comes out as several words"
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(0.0 <= w.start <= w.end <= seconds for w in words)
    assert all(0.0 < w.probability <= 1.0 for w in words)
    assert all(set(w.text) <= set(RU_LETTERS) for w in words)


def test_int8_variant_is_found_verified_and_decoded(tmp_path: Path) -> None:
    """A directory with onnx-asr's int8 file (v3_ctc.int8.onnx) is used in int8 under "auto";
    "none" keeps full precision; a missing int8 file is named."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from callqa.pipeline.speech.asr_backend import OnnxAsrBackend
    from callqa.pipeline.speech.asr_onnx import resolve_quantization

    folder = build_gigaam_ctc(tmp_path / "g8", seed=7)
    assert resolve_quantization("gigaam-v3-ctc", folder) is None
    with pytest.raises(ModelUnavailable, match=r"g8.*v\?_ctc\?int8\.onnx"):
        verify_model_dir("gigaam-v3-ctc", folder, "int8")
    quantize_dynamic(str(folder / "v3_ctc.onnx"), str(folder / "v3_ctc.int8.onnx"), weight_type=QuantType.QInt8)
    assert resolve_quantization("gigaam-v3-ctc", folder) == "int8"
    assert resolve_quantization("gigaam-v3-ctc", folder, "none") is None
    backend = OnnxAsrBackend("gigaam-v3-ctc", str(folder))
    assert backend.info().model == "gigaam-v3-ctc.int8"
    assert OnnxAsrBackend("gigaam-v3-ctc", str(folder), quantization="none").info().model == "gigaam-v3-ctc"
    wave = np.random.default_rng(8).normal(0, 0.1, 16_000 * 8).astype(np.float32)
    words = [w for s in backend.transcribe(wave, "ru") for w in s.words]
    assert words and all(0.0 <= w.start <= w.end <= 8.0 for w in words)
