"""x real time and peak memory of the onnx-asr path on a random-weight model of GigaAM-v3's size.

The model (built once into .model_cache/gigaam_like_ctc/, ignored by git) keeps GigaAM-v3 CTC's
file names and I/O: 64 mel features -> stride-4 subsampling -> 16 blocks of d=768 (a 4x768^2
projection block and two 768x3072 feed-forwards, residual) -> vocabulary log-probs: ~226M
parameters, per-frame matmul work close to the real conformer (no attention scores or conv).
Each measurement runs in its own process (`--one plain|callqa`) so peak RSS is its own.

    nice .venv/bin/python benchmarks/asr_onnx_speed.py --seconds 60 --threads 2
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


def one(mode: str, seconds: float, threads: int) -> dict:
    import onnx_asr
    import onnxruntime as rt

    wave = (np.random.default_rng(1).normal(0, 0.1, int(16_000 * seconds))).astype(np.float32)
    if mode == "plain":
        opts = rt.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        model = onnx_asr.load_model("gigaam-v3-ctc", CACHE, sess_options=opts).with_timestamps()
        from callqa.models.asr_backend import quiet_cuts  # same chunks as callqa: compare decoding only
        t = time.perf_counter()
        for a, b in quiet_cuts(wave, 16_000):
            model.recognize(wave[a:b], sample_rate=16_000)
    else:
        from callqa.models.asr_backend import OnnxAsrBackend
        backend = OnnxAsrBackend("gigaam-v3-ctc", str(CACHE), threads)
        backend.transcribe(wave[:16_000], "ru")  # load
        t = time.perf_counter()
        backend.transcribe(wave, "ru")
    dt = time.perf_counter() - t
    return {"mode": mode, "seconds": dt, "x_real_time": seconds / dt,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", choices=["plain", "callqa"])
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seconds, args.threads)))
        return
    t = time.perf_counter()
    n = build(CACHE)
    print(f"model: {CACHE} ({'cached' if n < 0 else f'{n / 1e6:.0f}M params, built in {time.perf_counter() - t:.0f} s'})")
    for mode in ("plain", "callqa"):
        out = subprocess.run([sys.executable, __file__, "--one", mode, "--seconds", str(args.seconds),
                              "--threads", str(args.threads)], capture_output=True, text=True, check=True)
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
