"""onnx-asr models (GigaAM-v3 CTC) loaded and decoded for real from a tiny random-weight directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callqa.models.asr_onnx import load_onnx_model, verify_model_dir
from callqa.pipeline.errors import ModelUnavailable

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RU_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"


def build_gigaam_ctc(folder: Path, seed: int = 0) -> Path:
    """A GigaAM CTC directory with onnx-asr's file names and I/O names: features [B,64,T] -> log_probs [B,T/4,V]."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["\u2581", *RU_LETTERS, "<blk>"]
    (folder / "v3_vocab.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)), encoding="utf-8")
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (64, len(tokens))).astype(np.float32), "w")
    consts = [numpy_helper.from_array(np.array(v, dtype=np.int64), n) for n, v in
              (("starts", [0]), ("ends", [2**62]), ("axes", [1]), ("steps", [4]))]
    nodes = [
        helper.make_node("Transpose", ["features"], ["ft"], perm=[0, 2, 1]),
        helper.make_node("Slice", ["ft", "starts", "ends", "axes", "steps"], ["sub"]),
        helper.make_node("MatMul", ["sub", "w"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_gigaam_ctc",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", 64, "T"]),
         helper.make_tensor_value_info("feature_lengths", TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["B", "T4", len(tokens)])],
        initializer=[w, *consts])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "v3_ctc.onnx")
    (folder / "config.json").write_text('{"model_type": "gigaam", "version": "v3"}', encoding="utf-8")
    return folder


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
    from callqa.models.asr_backend import MAX_CHUNK_S, OnnxAsrBackend, quiet_cuts

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


def build_tone(folder: Path, seed: int = 0) -> Path:
    """A T-one directory as onnx-asr reads it: model.onnx (signal int32 [B,2400,1] + state fp16 ->
    logprobs [B,10,V] + state_next) and config.json (vocabulary, pad id, reduction 3 = 30 ms frames)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    vocab = [" ", *RU_LETTERS]
    v = len(vocab) + 1
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 3e-4, (240, v)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([0, 10, 240], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Cast", ["signal"], ["sf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["sf", "shape"], ["frames"]),
        helper.make_node("MatMul", ["frames", "w"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["logprobs"], axis=-1),
        helper.make_node("Identity", ["state"], ["state_next"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_tone",
        [helper.make_tensor_value_info("signal", TensorProto.INT32, ["B", 2400, 1]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT16, ["B", 16])],
        [helper.make_tensor_value_info("logprobs", TensorProto.FLOAT, ["B", 10, v]),
         helper.make_tensor_value_info("state_next", TensorProto.FLOAT16, ["B", 16])],
        initializer=[w, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "model.onnx")
    (folder / "config.json").write_text(json.dumps({
        "model_type": "t-one-ctc", "pad_token_id": len(vocab),
        "decoder_params": {"vocabulary": vocab}, "encoder_params": {"reduction_kernel_size": 3}}), encoding="utf-8")
    return folder


def test_tiny_tone_at_8khz(tmp_path: Path) -> None:
    from callqa.models.asr_backend import OnnxAsrBackend

    backend = OnnxAsrBackend("t-one", str(build_tone(tmp_path / "tone")))
    assert backend.sample_rate == 8_000
    seconds = 30.0
    wave = np.random.default_rng(4).normal(0, 0.1, int(8_000 * seconds)).astype(np.float32)
    words = [w for s in backend.transcribe(wave, "ru") for w in s.words]
    assert words and words[-1].end > 25.0
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(0.0 <= w.start <= w.end <= seconds for w in words)


def test_routing_by_language(tmp_path: Path) -> None:
    from callqa.models.asr_backend import onnx_backend_for

    table = {"ru": f"gigaam-v3-ctc:{tmp_path}", "en": "tiny.en"}
    assert onnx_backend_for("ru", table).kind == "gigaam-v3-ctc"
    assert onnx_backend_for("en", table) is None  # English stays on faster-whisper
    with pytest.raises(ModelUnavailable, match=r"'de'.*asr\.by_language\.de"):
        onnx_backend_for("de", table)


def test_pull_without_internet_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    from callqa.models.asr_onnx import pull_onnx_model

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable, match=r"t-one.*t-tech/t-one"):
        pull_onnx_model("t-one", tmp_path / "tone")
    with pytest.raises(ModelUnavailable, match="unknown onnx ASR model kind"):
        pull_onnx_model("gigaam-v9", tmp_path / "x")
