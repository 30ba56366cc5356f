"""`callqa demo`: the nightly flow on `sample_calls/` into a fresh store, with the
embedded defaults (offline), then where to find the nightly report."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from callqa.commands.batch import data_dir, prepare_prefect_env, print_summary, project_root, run_flow
from callqa.commands.common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", metavar="DIR", help="the sample calls folder (default: the project's sample_calls/)")
    p.add_argument("--store", metavar="DIR", help="where the demo store goes (default: data/demo-store; replaced)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="parallel calls (N > 1: local Dask cluster)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="show Prefect's logs")


def english_only(model: str, models_dir: str) -> bool:
    """Whether the configured Whisper model transcribes English only (e.g. tiny.en):
    from its vocabulary when the model is on disk, else from its `.en` name."""
    try:
        from callqa.pipeline.speech.asr import is_multilingual, resolve_model

        return not is_multilingual(resolve_model(model, models_dir))
    except Exception:  # not available offline: the name is all we know
        return Path(model.rstrip("/")).name.lower().endswith(".en")


def serves_russian(asr) -> bool:
    """Whether a model on disk serves Russian: `models.asr.by_language.ru` (an onnx directory that
    verifies, or a Whisper model) or a multilingual `models.asr.model`."""
    try:
        from callqa.pipeline.speech.asr_backend import OnnxAsrBackend, backend_for
        from callqa.pipeline.speech.asr_onnx import verify_model_dir

        backend = backend_for("ru", asr)
        if isinstance(backend, OnnxAsrBackend):
            verify_model_dir(backend.kind, backend.path, backend.quantization)
        return True
    except Exception:  # not available offline: a Russian entry is missing; else judge the Whisper name
        return "ru" not in asr.by_language and not english_only(asr.model, asr.models_dir)


def _fresh_store(path: Path) -> None:
    """Remove an earlier demo store; refuse to delete a folder that is not a store."""
    if not path.exists():
        return
    markers = ("callqa.duckdb", ".run.lock", ".db.lock")
    if path.is_dir() and (not any(path.iterdir()) or any((path / m).exists() for m in markers)):
        shutil.rmtree(path)
        return
    raise SystemExit(f"callqa demo: {path} exists and is not a callqa store; choose another --store")


def run(args: argparse.Namespace) -> int:
    prepare_prefect_env(verbose=args.verbose)
    root = project_root() or Path.cwd()
    samples = Path(args.samples) if args.samples else root / "sample_calls"
    if not samples.is_dir():
        print(f"callqa demo: {samples} not found (generate it with sample_calls/synthesize.py)", file=sys.stderr)
        return 2
    config_file = samples / "config.yaml"
    from callqa.pipeline.config import load_config

    config = load_config(str(config_file) if config_file.is_file() else None)
    out = console()
    inboxes = [samples / "audio", samples / "transcripts"]
    ru_audio = samples / "ru_audio"
    asr = config.section("models").asr
    asr_model = asr.model
    if ru_audio.is_dir():
        if not serves_russian(asr):
            out.print(f"Skipping {ru_audio}: the configured ASR model '{asr_model}' is English-only. To enable "
                      "Russian audio: `callqa models pull gigaam-v3-e2e-rnnt` (once, with internet), then set "
                      "models.asr.by_language.ru: gigaam-v3-e2e-rnnt:DIR (README \"Models offline\").",
                      soft_wrap=True)
        else:
            inboxes.append(ru_audio)
    inboxes = [i for i in inboxes if i.is_dir()]
    if not inboxes:
        print(f"callqa demo: no audio/ or transcripts/ folder in {samples}", file=sys.stderr)
        return 2
    store = Path(args.store) if args.store else data_dir() / "demo-store"
    _fresh_store(store)
    out.print(f"Running the nightly flow on {', '.join(str(i) for i in inboxes)}"
              f"{' with ' + str(config_file) if config_file.is_file() else ''} into {store} ...")
    from callqa.pipeline.batch import new_run_id

    args.wait, args.reprocess, args.dask_address = False, False, None
    summary = run_flow(args, [str(i.resolve()) for i in inboxes], store.resolve(),
                       str(config_file.resolve()) if config_file.is_file() else None, new_run_id(),
                       progress=not args.no_progress and sys.stderr.isatty())
    if isinstance(summary, int):
        return summary
    print_summary(summary, title="callqa demo")
    calls = Path(summary["store"]) / "parquet" / "calls.parquet"
    out.print(f"\nOpen the nightly report in a browser: {summary['report']}", soft_wrap=True)
    out.print(f"Query the tables: duckdb -c \"SELECT * FROM '{calls}'\"", soft_wrap=True)
    from callqa.commands.demo_access import print_web_access  # a demo user, and `callqa serve` as it works

    print_web_access(out, summary["store"], config_file if config_file.is_file() else None)
    return 1 if summary["failed"] else 0
