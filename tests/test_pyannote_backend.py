"""The pyannote backend through its real loading-and-run path.

Pretrained pyannote weights cannot be downloaded here, so the test builds a
pipeline directory in the layout of `pyannote/speaker-diarization-community-1`
(config.yaml + segmentation/ + embedding/ + plda/) with tiny random weights of
the real architectures (PyanNet powerset segmentation, WeSpeaker ResNet34
embedding, VBx PLDA), then loads it with `pipeline/speech/diarize_models.py` and runs
`diarize()` with the `pyannote` backend.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.slow

SR = 16000


def _save_pyannote_checkpoint(model, path: Path) -> None:
    """A checkpoint `Model.from_pretrained` reads (what Lightning writes, minus training state)."""
    import lightning
    import torch

    ckpt = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(ckpt)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)


def build_community1_layout(root: Path, seed: int = 0) -> Path:
    """A pyannote SpeakerDiarization pipeline directory with random weights."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    seg = PyanNet(sincnet={"stride": 10}, lstm={"hidden_size": 16, "num_layers": 1, "bidirectional": True,
                                                 "monolithic": True, "dropout": 0.0},
                  linear={"hidden_size": 16, "num_layers": 1})
    seg.specifications = Specifications(problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME,
                                        duration=3.0, min_duration=3.0, warm_up=(0.0, 0.0),
                                        classes=["speaker#1", "speaker#2"], powerset_max_classes=2,
                                        permutation_invariant=True)
    seg.build()
    with torch.no_grad():  # favour single-speaker classes so that the random model finds speech
        seg.classifier.bias.copy_(torch.tensor([0.0, 2.0, 2.0, -1.0]))  # {}, {1}, {2}, {1,2}
    _save_pyannote_checkpoint(seg, root / "segmentation" / "pytorch_model.bin")

    emb = WeSpeakerResNet34()
    emb.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=3.0)
    _save_pyannote_checkpoint(emb, root / "embedding" / "pytorch_model.bin")

    dim, lda_dim = 256, 128
    (root / "plda").mkdir(parents=True, exist_ok=True)
    np.savez(root / "plda" / "xvec_transform.npz", mean1=rng.normal(0, 0.01, dim), mean2=rng.normal(0, 0.01, lda_dim),
             lda=np.linalg.qr(rng.normal(size=(dim, dim)))[0][:, :lda_dim])
    np.savez(root / "plda" / "plda.npz", mu=np.zeros(lda_dim), tr=np.eye(lda_dim),
             psi=np.sort(rng.uniform(0.5, 5.0, lda_dim))[::-1])

    config = {
        "dependencies": {"pyannote.audio": "4.0.7"},
        "pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization",
                     "params": {"segmentation": "$model/segmentation", "embedding": "$model/embedding",
                                "plda": "$model/plda", "clustering": "VBxClustering",
                                "segmentation_step": 0.5,  # community-1: 0.1 (kept small here for speed)
                                "embedding_exclude_overlap": True, "segmentation_batch_size": 8,
                                "embedding_batch_size": 8}},
        "params": {"segmentation": {"min_duration_off": 0.0},
                   "clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory) -> Path:
    return build_community1_layout(tmp_path_factory.mktemp("community1"))


def _two_tone_audio(seconds: float = 6.0) -> SimpleNamespace:
    """Alternating 'voices' (harmonic tones at two pitches) with pauses, as pipeline.speech.decode.Audio."""
    t = np.arange(int(seconds * SR)) / SR
    x = np.zeros_like(t)
    for i, start in enumerate(np.arange(0.3, seconds - 1.0, 1.6)):
        f0 = 140.0 if i % 2 == 0 else 230.0
        m = (t >= start) & (t < start + 1.2)
        x[m] = sum(np.sin(2 * np.pi * f0 * h * t[m]) / h for h in range(1, 6))
    x = 0.2 * x / np.abs(x).max() + np.random.default_rng(0).normal(0, 1e-3, len(x))
    samples = x.astype(np.float32)[None, :]
    return SimpleNamespace(samples=samples, channels=1, sample_rate=SR, duration_s=seconds)


def _config(pipeline: str, backend: str = "pyannote"):
    from callqa.pipeline.config import load_config

    # One torch thread: the shared CI cores make multi-threaded convolutions crawl.
    return load_config(overrides={"models": {"diarization": {"backend": backend,
                                                             "pyannote": {"pipeline": pipeline, "threads": 1}}}})


def test_pyannote_pipeline_loads_from_a_local_directory_and_diarizes(pipeline_dir):
    from callqa.pipeline.speech.diarize_models import pyannote_pipeline
    from callqa.pipeline.speech.diarize import diarize

    audio = _two_tone_audio()
    result = diarize(audio, _config(str(pipeline_dir)), num_speakers=2)

    assert result.backend == f"pyannote:{pipeline_dir}"
    assert result.segments, "the pipeline found no speech at all"
    assert len(result.labels) <= 2
    assert all(lab.startswith("SPEAKER_") for lab in result.labels)
    for a, b in zip(result.segments, result.segments[1:]):
        assert a.start <= b.start
        assert a.end <= b.start + 1e-6, "exclusive diarization must not overlap"
    for s in result.segments:
        assert 0.0 <= s.start < s.end <= audio.duration_s + 1e-3
    # Loaded once, then cached.
    assert pyannote_pipeline(str(pipeline_dir), "HF_TOKEN", "cpu") is pyannote_pipeline(str(pipeline_dir), "HF_TOKEN", "cpu")


def test_pyannote_counts_the_speakers_itself_and_reports_overlapped_speech(pipeline_dir):
    """Without a count for the call, pyannote estimates it (at most num_speakers) and its
    segmentation's overlapped speech is the call's overlaps; with detection off they are
    'not measured' with the reason."""
    from callqa.pipeline.config import load_config
    from callqa.pipeline.speech.diarize import diarize

    audio = _two_tone_audio()
    result = diarize(audio, _config(str(pipeline_dir)))
    assert result.speakers["method"] == "estimated" and result.speakers["max"] == 2
    assert result.speakers["count"] == len(result.labels) <= 2
    assert result.overlap_method == "pyannote-segmentation"
    assert result.overlap_summary()["measured"] is True
    for o in result.overlaps:
        assert 0.0 <= o.start < o.end <= audio.duration_s + 1e-3
        assert o.first != o.second
    off = load_config(overrides={"models": {"diarization": {
        "backend": "pyannote", "pyannote": {"pipeline": str(pipeline_dir), "threads": 1},
        "overlaps": {"detect": False}}}})
    not_measured = diarize(audio, off, num_speakers=2)
    assert not_measured.speakers["method"] == "fixed"
    assert not_measured.overlap_method is None and "overlaps.detect" in not_measured.overlap_note


def test_pyannote_pipeline_loads_from_its_config_file(pipeline_dir):
    from callqa.pipeline.speech.diarize_models import pyannote_pipeline

    pipe = pyannote_pipeline(str(pipeline_dir / "config.yaml"))
    assert type(pipe).__name__ == "SpeakerDiarization"


def test_missing_pipeline_is_a_clear_error_or_a_fallback(tmp_path):
    from callqa.pipeline.speech.diarize import diarize
    from callqa.pipeline.errors import ModelUnavailable

    audio = _two_tone_audio(4.0)
    missing = tmp_path / "no-such-pipeline"
    with pytest.raises(ModelUnavailable, match="no-such-pipeline"):
        diarize(audio, _config(str(missing), backend="pyannote"))
    # auto: the embedded diarizer takes over
    assert diarize(audio, _config(str(missing), backend="auto")).backend == "embedded"
