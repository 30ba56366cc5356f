"""Russian ASR models run through onnx-asr (GigaAM-v3, T-one): local directories only.

A model kind names the onnx-asr model type, the files its directory must hold (the glob
patterns onnx-asr itself resolves, copied from onnx_asr/models/gigaam.py and tone.py),
the Hugging Face repository `callqa models pull` fetches it from, and the sample rate it
takes (T-one is trained on 8 kHz telephony). Loading is lazy and cached; nothing is
downloaded except by `pull_onnx_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from callqa.pipeline.errors import ModelUnavailable


@dataclass(frozen=True)
class OnnxAsrKind:
    onnx_asr_type: str  # the model name onnx_asr.load_model takes
    files: tuple[str, ...]  # glob patterns, each must match exactly one file
    repo_id: str
    sample_rate: int
    licence: str


KINDS: dict[str, OnnxAsrKind] = {
    "gigaam-v3-ctc": OnnxAsrKind("gigaam-v3-ctc", ("v?_ctc.onnx", "v?_vocab.txt"),
                                 "istupakov/gigaam-v3-onnx", 16_000, "MIT"),
    "gigaam-v3-rnnt": OnnxAsrKind("gigaam-v3-rnnt", ("v?_rnnt_encoder.onnx", "v?_rnnt_decoder.onnx",
                                                     "v?_rnnt_joint.onnx", "v?_vocab.txt"),
                                  "istupakov/gigaam-v3-onnx", 16_000, "MIT"),
    "gigaam-v3-e2e-ctc": OnnxAsrKind("gigaam-v3-e2e-ctc", ("v3_e2e_ctc.onnx", "v3_e2e_ctc_vocab.txt"),
                                     "istupakov/gigaam-v3-onnx", 16_000, "MIT"),
    "gigaam-v3-e2e-rnnt": OnnxAsrKind("gigaam-v3-e2e-rnnt", ("v3_e2e_rnnt_encoder.onnx", "v3_e2e_rnnt_decoder.onnx",
                                                             "v3_e2e_rnnt_joint.onnx", "v3_e2e_rnnt_vocab.txt"),
                                      "istupakov/gigaam-v3-onnx", 16_000, "MIT"),
    "t-one": OnnxAsrKind("t-one-ctc", ("model.onnx", "config.json"), "t-tech/t-one", 8_000, "Apache-2.0"),
}


def kind_of(name: str) -> OnnxAsrKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ModelUnavailable(f"unknown onnx ASR model kind {name!r}; known: {', '.join(sorted(KINDS))}") from None


QUANTIZATIONS = ("int8",)  # onnx-asr's file variants: v3_ctc.int8.onnx beside v3_ctc.onnx


def kind_files(name: str, quantization: str | None = None) -> tuple[str, ...]:
    """The glob patterns of kind `name`'s files; a quantized variant's .onnx files end in `?int8.onnx`
    (the pattern onnx-asr itself resolves: `model{?int8}.onnx`)."""
    files = kind_of(name).files
    if not quantization:
        return files
    if quantization not in QUANTIZATIONS:
        raise ModelUnavailable(f"unknown onnx model quantization {quantization!r}; known: {', '.join(QUANTIZATIONS)}")
    return tuple(p[: -len(".onnx")] + f"?{quantization}.onnx" if p.endswith(".onnx") else p for p in files)


def _complete(folder: Path, patterns: tuple[str, ...]) -> bool:
    return all(len(list(folder.glob(p))) == 1 for p in patterns)


def resolve_quantization(name: str, path: str | Path, wanted: str = "auto") -> str | None:
    """Which variant of kind `name` to use from `path`: `wanted` "none" -> full precision, "int8" ->
    int8; "auto" -> int8 when the directory holds a complete int8 variant (several times faster on
    CPU), else full precision. Never raises: a missing directory is reported by `verify_model_dir`."""
    if wanted in (None, "none"):
        return None
    if wanted != "auto":
        return wanted
    folder = Path(path).expanduser()
    return "int8" if folder.is_dir() and _complete(folder, kind_files(name, "int8")) else None


def verify_model_dir(name: str, path: str | Path, quantization: str | None = None) -> Path:
    """The directory `path` if it holds every file model kind `name` needs; else a clear error naming the path."""
    kind_of(name)
    folder = Path(path).expanduser()
    label = name + (f" ({quantization})" if quantization else "")
    if not folder.is_dir():
        raise ModelUnavailable(f"ASR model directory {folder} does not exist (model {label}); "
                               f"run `callqa models pull {name}` on a machine with internet and copy it here")
    patterns = kind_files(name, quantization)
    missing = [p for p in patterns if len(list(folder.glob(p))) != 1]
    if missing:
        raise ModelUnavailable(f"ASR model directory {folder} is not a complete {label} model: "
                               f"no single file matching {', '.join(missing)}")
    for p in patterns:
        f = next(folder.glob(p))
        if f.stat().st_size == 0:
            raise ModelUnavailable(f"ASR model file {f} is empty (model {label}): pull it again")
    return folder.resolve()


@lru_cache(maxsize=4)
def load_onnx_model(name: str, path: str, threads: int = 2, quantization: str | None = None):
    """The onnx-asr model of kind `name` from local directory `path`, with token timestamps and log-probs."""
    folder = verify_model_dir(name, path, quantization)
    import onnx_asr  # heavy: only when a Russian model is really used
    import onnxruntime as rt

    opts = rt.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    try:
        model = onnx_asr.load_model(kind_of(name).onnx_asr_type, folder, quantization=quantization,
                                    sess_options=opts)
    except Exception as exc:  # onnxruntime / onnx-asr errors: corrupt or mismatched files
        raise ModelUnavailable(f"ASR model directory {folder} could not be loaded as {name}: {exc}") from exc
    return model.with_timestamps()


def pull_onnx_model(name: str, target: str | Path, quantization: str | None = None) -> Path:
    """Download model kind `name` (its `quantization` variant, e.g. int8) into `target` (needs internet);
    verified before returning."""
    kind = kind_of(name)
    patterns = kind_files(name, quantization)
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(kind.repo_id, local_dir=str(target),
                          allow_patterns=[*patterns, "config.json",
                                          *(p + "?data" for p in patterns if p.endswith(".onnx"))])
    except Exception as exc:
        raise ModelUnavailable(f"could not download {name} from {kind.repo_id} into {target}: {exc}") from exc
    return verify_model_dir(name, target, quantization)
