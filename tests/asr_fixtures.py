"""Tiny random-weight onnx-asr model directories, built with exactly the file names, input and
output names onnx-asr reads (onnx_asr/models/gigaam.py, tone.py): GigaAM-v3 CTC, GigaAM-v3 RNN-T
(encoder, decoder, joint) and T-one. Real loading and decoding, nonsense text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RU_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
# Logit biases (blank, word boundary), so that speech with pauses comes out as words at a speaking pace.
CTC_SCALE = 0.3
CTC_BIAS = (0.0, 0.0)
RNNT_BIAS = (5.0, 2.5)
TONE_BIAS = (5.0, 2.0)


def build_gigaam_ctc(folder: Path, seed: int = 0) -> Path:
    """A GigaAM CTC directory with onnx-asr's file names and I/O names: features [B,64,T] -> log_probs [B,T/4,V]."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["\u2581", *RU_LETTERS, "<blk>"]
    (folder / "v3_vocab.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)), encoding="utf-8")
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, CTC_SCALE, (64, len(tokens))).astype(np.float32), "w")
    consts = [numpy_helper.from_array(np.array(v, dtype=np.int64), n) for n, v in
              (("starts", [0]), ("ends", [2**62]), ("axes", [1]), ("steps", [4]))]
    nodes = [
        helper.make_node("Transpose", ["features"], ["ft"], perm=[0, 2, 1]),
        helper.make_node("Slice", ["ft", "starts", "ends", "axes", "steps"], ["sub"]),
        helper.make_node("MatMul", ["sub", "w"], ["raw"]),
        helper.make_node("Add", ["raw", "bias"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_gigaam_ctc",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", 64, "T"]),
         helper.make_tensor_value_info("feature_lengths", TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["B", "T4", len(tokens)])],
        initializer=[w, _bias(len(tokens), 0, len(tokens) - 1, CTC_BIAS), *consts])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "v3_ctc.onnx")
    (folder / "config.json").write_text('{"model_type": "gigaam", "version": "v3"}', encoding="utf-8")
    return folder


def _bias(v: int, space: int, blank: int, values: tuple[float, float]):
    b = np.zeros(v, np.float32)
    b[blank], b[space] = values
    return numpy_helper.from_array(b, "bias")


def _save(nodes, name, inputs, outputs, initializer, path: Path) -> None:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializer)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def build_gigaam_rnnt(folder: Path, seed: int = 0, e2e: bool = False) -> Path:
    """A GigaAM RNN-T directory: encoder (audio_signal [B,64,T], length -> encoded [B,D,T/4], encoded_len
    int32), decoder (x, h.1, c.1 -> dec [1,320,1], h, c; 320 = onnx-asr's PRED_HIDDEN) and joint
    (enc [1,D,1], dec [1,1,320] -> joint [1,1,V]); blank biased up so words come out at a speaking pace."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "v3_e2e_rnnt" if e2e else "v3_rnnt"
    tokens = ["\u2581", *RU_LETTERS, "<blk>"]
    v, d, h = len(tokens), 16, 320
    (folder / (f"{prefix}_vocab.txt" if e2e else "v3_vocab.txt")).write_text(
        "".join(f"{t} {i}\n" for i, t in enumerate(tokens)), encoding="utf-8")
    rng = np.random.default_rng(seed)
    f32 = TensorProto.FLOAT
    enc_w = numpy_helper.from_array(rng.normal(0, 0.3, (64, d)).astype(np.float32), "w")
    consts = [numpy_helper.from_array(np.array(x, dtype=np.int64), n) for n, x in
              (("starts", [0]), ("ends", [2**62]), ("axes", [1]), ("steps", [4]), ("one", 1), ("four", 4))]
    _save([helper.make_node("Transpose", ["audio_signal"], ["ft"], perm=[0, 2, 1]),
           helper.make_node("Slice", ["ft", "starts", "ends", "axes", "steps"], ["sub"]),
           helper.make_node("MatMul", ["sub", "w"], ["e"]),
           helper.make_node("Transpose", ["e"], ["encoded"], perm=[0, 2, 1]),
           helper.make_node("Sub", ["length", "one"], ["l1"]),
           helper.make_node("Div", ["l1", "four"], ["l2"]),
           helper.make_node("Add", ["l2", "one"], ["l3"]),
           helper.make_node("Cast", ["l3"], ["encoded_len"], to=TensorProto.INT32)],
          "tiny_rnnt_encoder",
          [helper.make_tensor_value_info("audio_signal", f32, ["B", 64, "T"]),
           helper.make_tensor_value_info("length", TensorProto.INT64, ["B"])],
          [helper.make_tensor_value_info("encoded", f32, ["B", d, "T4"]),
           helper.make_tensor_value_info("encoded_len", TensorProto.INT32, ["B"])],
          [enc_w, *consts], folder / f"{prefix}_encoder.onnx")
    emb = numpy_helper.from_array(rng.normal(0, 0.5, (v, h)).astype(np.float32), "emb")
    wh = numpy_helper.from_array(rng.normal(0, 0.05, (h, h)).astype(np.float32), "wh")
    _save([helper.make_node("Gather", ["emb", "x"], ["e"], axis=0),
           helper.make_node("MatMul", ["h.1", "wh"], ["hh"]),
           helper.make_node("Add", ["e", "hh"], ["pre"]),
           helper.make_node("Tanh", ["pre"], ["h"]),
           helper.make_node("Identity", ["c.1"], ["c"]),
           helper.make_node("Transpose", ["h"], ["dec"], perm=[0, 2, 1])],
          "tiny_rnnt_decoder",
          [helper.make_tensor_value_info("x", TensorProto.INT64, [1, 1]),
           helper.make_tensor_value_info("h.1", f32, [1, 1, h]),
           helper.make_tensor_value_info("c.1", f32, [1, 1, h])],
          [helper.make_tensor_value_info("dec", f32, [1, h, 1]),
           helper.make_tensor_value_info("h", f32, [1, 1, h]),
           helper.make_tensor_value_info("c", f32, [1, 1, h])],
          [emb, wh], folder / f"{prefix}_decoder.onnx")
    _save([helper.make_node("Transpose", ["enc"], ["et"], perm=[0, 2, 1]),
           helper.make_node("MatMul", ["et", "we"], ["a"]),
           helper.make_node("MatMul", ["dec", "wd"], ["b"]),
           helper.make_node("Add", ["a", "b"], ["ab"]),
           helper.make_node("Add", ["ab", "bias"], ["joint"])],
          "tiny_rnnt_joint",
          [helper.make_tensor_value_info("enc", f32, [1, d, 1]),
           helper.make_tensor_value_info("dec", f32, [1, 1, h])],
          [helper.make_tensor_value_info("joint", f32, [1, 1, v])],
          [numpy_helper.from_array(rng.normal(0, 0.3, (d, v)).astype(np.float32), "we"),
           numpy_helper.from_array(rng.normal(0, 0.1, (h, v)).astype(np.float32), "wd"),
           _bias(v, 0, v - 1, RNNT_BIAS)], folder / f"{prefix}_joint.onnx")
    (folder / "config.json").write_text(json.dumps({"model_type": "gigaam", "version": "v3"}), encoding="utf-8")
    return folder


def build_tone(folder: Path, seed: int = 0) -> Path:
    """A T-one directory as onnx-asr reads it: model.onnx (signal int32 [B,2400,1] + state fp16 ->
    logprobs [B,10,V] + state_next) and config.json (vocabulary, pad id, reduction 3 = 30 ms frames)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = [" ", *RU_LETTERS]
    v = len(vocab) + 1
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 3e-4, (240, v)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([0, 10, 240], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Cast", ["signal"], ["sf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["sf", "shape"], ["frames"]),
        helper.make_node("MatMul", ["frames", "w"], ["raw"]),
        helper.make_node("Add", ["raw", "bias"], ["logits"]),
        helper.make_node("LogSoftmax", ["logits"], ["logprobs"], axis=-1),
        helper.make_node("Identity", ["state"], ["state_next"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_tone",
        [helper.make_tensor_value_info("signal", TensorProto.INT32, ["B", 2400, 1]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT16, ["B", 16])],
        [helper.make_tensor_value_info("logprobs", TensorProto.FLOAT, ["B", 10, v]),
         helper.make_tensor_value_info("state_next", TensorProto.FLOAT16, ["B", 16])],
        initializer=[w, _bias(v, 0, len(vocab), TONE_BIAS), shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "model.onnx")
    (folder / "config.json").write_text(json.dumps({
        "model_type": "t-one-ctc", "pad_token_id": len(vocab),
        "decoder_params": {"vocabulary": vocab}, "encoder_params": {"reduction_kernel_size": 3}}), encoding="utf-8")
    return folder
