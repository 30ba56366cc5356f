"""x real time and peak memory of the onnx-asr path on a random-weight model of GigaAM-v3's size.

The model (built once into .model_cache/gigaam_like_ctc/, ignored by git) keeps GigaAM-v3 CTC's
file names and I/O: 64 mel features -> stride-4 subsampling -> 16 blocks of d=768 (a 4x768^2
projection block and two 768x3072 feed-forwards, residual) -> vocabulary log-probs: ~226M
parameters, per-frame matmul work close to the real conformer (no attention scores or conv).
Each measurement runs in its own process (`--one plain|callqa|callqa-vad`) so peak RSS is its own;
`plain` is onnx-asr itself on callqa's chunks, `callqa` the backend on the same chunks (the ratio is
callqa's overhead), `callqa-vad` the backend as the pipeline runs it (chunks cut at Silero VAD pauses,
silence skipped). `--int8` adds the same rows for the model quantized with onnxruntime's
`quantize_dynamic` (what onnx-asr's `*.int8.onnx` files are); `tiny.en` is faster-whisper on the
same audio for comparison (English-only: its words mean nothing here). `--audio FILE` decodes a real
recording's first channel (repeated to `--seconds`) instead of noise.

    nice .venv/bin/python benchmarks/asr_onnx_speed.py --seconds 60 --threads 2 --int8 \
        --audio sample_calls/ru_audio/ru_good_inbound.flac
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".model_cache" / "gigaam_like_ctc"
D, H, LAYERS = 768, 3072, 16


def build(folder: Path) -> int:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if (folder / "v3_ctc.onnx").is_file():
        return -1
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["\u2581", *"абвгдеёжзийклмнопрстуфхцчшщъыьэюя", "<blk>"]
    (folder / "v3_vocab.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)), encoding="utf-8")
    rng = np.random.default_rng(0)
    inits, nodes, n_params = [], [], 0

    def w(name: str, shape: tuple[int, int]) -> str:
        nonlocal n_params
        inits.append(numpy_helper.from_array((rng.standard_normal(shape, dtype=np.float32) / np.float32(np.sqrt(shape[0]))), name))
        n_params += shape[0] * shape[1]
        return name

    for n, v in (("starts", [0]), ("ends", [2**62]), ("axes", [1]), ("steps", [4])):
        inits.append(numpy_helper.from_array(np.array(v, dtype=np.int64), n))
    nodes += [helper.make_node("Transpose", ["features"], ["ft"], perm=[0, 2, 1]),
              helper.make_node("Slice", ["ft", "starts", "ends", "axes", "steps"], ["sub"]),
              helper.make_node("MatMul", ["sub", w("w_in", (64, D))], ["x0"])]
    x = "x0"
    for i in range(LAYERS):
        nodes.append(helper.make_node("MatMul", [x, w(f"qkvo{i}", (D, 4 * D))], [f"p{i}"]))
        nodes.append(helper.make_node("MatMul", [f"p{i}", w(f"o{i}", (4 * D, D))], [f"a{i}"]))
        nodes.append(helper.make_node("Add", [x, f"a{i}"], [f"r{i}"]))
        y = f"r{i}"
        for j in range(2):
            nodes += [helper.make_node("MatMul", [y, w(f"f{i}_{j}a", (D, H))], [f"h{i}_{j}"]),
                      helper.make_node("Relu", [f"h{i}_{j}"], [f"g{i}_{j}"]),
                      helper.make_node("MatMul", [f"g{i}_{j}", w(f"f{i}_{j}b", (H, D))], [f"m{i}_{j}"]),
                      helper.make_node("Add", [y, f"m{i}_{j}"], [f"y{i}_{j}"])]
            y = f"y{i}_{j}"
        nodes.append(helper.make_node("LayerNormalization", [y, "ln_s", "ln_b"], [f"x{i + 1}"], axis=-1))
        x = f"x{i + 1}"
    inits += [numpy_helper.from_array(np.ones(D, np.float32), "ln_s"), numpy_helper.from_array(np.zeros(D, np.float32), "ln_b")]
    nodes += [helper.make_node("MatMul", [x, w("w_out", (D, len(tokens)))], ["logits"]),
              helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=-1)]
    graph = helper.make_graph(nodes, "gigaam_like_ctc",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", 64, "T"]),
                               helper.make_tensor_value_info("feature_lengths", TensorProto.INT64, ["B"])],
                              [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["B", "T4", len(tokens)])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "v3_ctc.onnx")
    return n_params


INT8 = CACHE.parent / "gigaam_like_ctc_int8"


def quantize(src: Path, dst: Path) -> None:
    if (dst / "v3_ctc.int8.onnx").is_file():
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst.mkdir(parents=True, exist_ok=True)
    (dst / "v3_vocab.txt").write_bytes((src / "v3_vocab.txt").read_bytes())
    quantize_dynamic(str(src / "v3_ctc.onnx"), str(dst / "v3_ctc.int8.onnx"), weight_type=QuantType.QInt8)


def _wave(seconds: float, audio: str | None) -> np.ndarray:
    n = int(16_000 * seconds)
    if not audio:
        return (np.random.default_rng(1).normal(0, 0.1, n)).astype(np.float32)
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.config import load_config

    x = load_audio(audio, load_config()).channel(0)
    return np.ascontiguousarray(np.tile(x, n // x.size + 1)[:n], dtype=np.float32)


def one(mode: str, seconds: float, threads: int, quant: str | None = None, audio: str | None = None) -> dict:
    import onnx_asr
    import onnxruntime as rt

    folder = INT8 if quant else CACHE
    wave = _wave(seconds, audio)
    if mode == "tiny.en":  # faster-whisper tiny.en through callqa's Whisper backend, same audio and threads
        from callqa.pipeline.speech.asr_backend import WhisperBackend
        from callqa.pipeline.config import load_config

        opts = load_config().section("models").asr.model_copy(update={"cpu_threads": threads})
        backend = WhisperBackend(opts)
        backend.transcribe(wave[:16_000 * 2], "en")  # load
        t = time.perf_counter()
        backend.transcribe(wave, "en")
    elif mode == "plain":
        opts = rt.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        model = onnx_asr.load_model("gigaam-v3-ctc", folder, quantization=quant, sess_options=opts).with_timestamps()
        from callqa.pipeline.speech.asr_backend import quiet_cuts  # same chunks as callqa: compare decoding only
        model.recognize(wave[:16_000], sample_rate=16_000)  # warm up, as the backend's load below
        t = time.perf_counter()
        for a, b in quiet_cuts(wave, 16_000):
            model.recognize(wave[a:b], sample_rate=16_000)
    else:
        from callqa.pipeline.speech.asr_backend import DecodeOptions, OnnxAsrBackend
        backend = OnnxAsrBackend("gigaam-v3-ctc", str(folder), threads, quant or "none")
        backend.transcribe(wave[:16_000], "ru")  # load
        t = time.perf_counter()
        if mode == "callqa-vad":  # as the pipeline: VAD first (timed too), chunks cut at its pauses
            from callqa.pipeline.config import load_config
            from callqa.pipeline.speech.transcribe import _vad_speech

            speech = _vad_speech(wave, load_config().section("models").asr)
            backend.transcribe(wave, "ru", DecodeOptions(speech=speech))
        else:
            backend.transcribe(wave, "ru")
    dt = time.perf_counter() - t
    return {"mode": mode + (f"-{quant}" if quant else ""), "seconds": round(dt, 2),
            "x_real_time": round(seconds / dt, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", choices=["plain", "callqa", "callqa-vad", "tiny.en"])
    ap.add_argument("--quant", choices=["int8"], help=argparse.SUPPRESS)
    ap.add_argument("--int8", action="store_true", help="also the int8-quantized model")
    ap.add_argument("--audio", metavar="FILE", help="a recording to decode instead of noise")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seconds, args.threads, args.quant, args.audio)))
        return
    t = time.perf_counter()
    n = build(CACHE)
    print(f"model: {CACHE} ({'cached' if n < 0 else f'{n / 1e6:.0f}M params, built in {time.perf_counter() - t:.0f} s'})")
    if args.int8:
        quantize(CACHE, INT8)
    rows = {}
    cmd = [sys.executable, __file__, "--one", "tiny.en", "--seconds", str(args.seconds), "--threads",
           str(args.threads), *(["--audio", args.audio] if args.audio else [])]
    print(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip())
    for quant in ([None, "int8"] if args.int8 else [None]):
        for mode in ("plain", "callqa", "callqa-vad"):
            cmd = [sys.executable, __file__, "--one", mode, "--seconds", str(args.seconds),
                   "--threads", str(args.threads), *(["--quant", quant] if quant else []),
                   *(["--audio", args.audio] if args.audio else [])]
            out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            rows[out["mode"]] = out
            print(json.dumps(out))
        suffix = f"-{quant}" if quant else ""
        print(f"callqa / plain time ratio{suffix}: "
              f"{rows['callqa' + suffix]['seconds'] / rows['plain' + suffix]['seconds']:.2f}")


if __name__ == "__main__":
    main()
