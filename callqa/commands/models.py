"""`callqa models list`, `callqa models pull NAME [--dir DIR]` and `callqa models verify KIND DIR`:
which model serves each language and whether it is on disk; download one for offline use (Whisper
names, or the onnx-asr kinds gigaam-v3-e2e-rnnt / gigaam-v3-ctc / t-one / ...); check a directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults in configs/")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    lst = sub.add_parser("list", help="configured models and the ASR models available offline")
    pull = sub.add_parser("pull", help="download an ASR model (needs internet) into the models directory")
    verify = sub.add_parser("verify", help="check that a local directory holds a complete onnx ASR model and loads")
    for sp in (lst, pull, verify):  # `--config` is accepted before or after the action
        sp.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    pull.add_argument("name", metavar="NAME", help="a faster-whisper size (small, large-v3-turbo, ...), a "
                                                   "Hugging Face id of a CTranslate2 Whisper model, or an onnx-asr "
                                                   "kind: gigaam-v3-e2e-rnnt, gigaam-v3-rnnt, gigaam-v3-e2e-ctc, "
                                                   "gigaam-v3-ctc, t-one")
    pull.add_argument("--dir", metavar="DIR", help="where to put it (default: models.asr.models_dir)")
    for sp in (pull, verify):
        sp.add_argument("--int8", action="store_true", help="onnx kinds: the int8-quantized variant "
                                                            "(several times faster on CPU)")
    verify.add_argument("kind", metavar="KIND", help="gigaam-v3-e2e-rnnt, gigaam-v3-rnnt, gigaam-v3-e2e-ctc, "
                                                     "gigaam-v3-ctc or t-one")
    verify.add_argument("dir", metavar="DIR", help="the model directory")


def run(args: argparse.Namespace) -> int:
    from callqa.pipeline.config import load_config

    config = load_config(args.config)
    if args.action == "pull":
        return _pull(args, config)
    if args.action == "verify":
        return _verify(args)
    if args.action in (None, "list"):
        return _list(config)
    print(f"callqa models: unknown action {args.action!r}", file=sys.stderr)
    return 2


def _verify(args: argparse.Namespace) -> int:
    from callqa.pipeline.speech.asr_onnx import kind_of, load_onnx_model, verify_model_dir

    quant = "int8" if args.int8 else None
    folder = verify_model_dir(args.kind, args.dir, quant)  # ModelUnavailable -> exit 1 naming the path
    load_onnx_model(args.kind, str(folder), 2, quant)
    print(f"{args.kind}{' (int8)' if quant else ''}: {folder} is complete and loads "
          f"({kind_of(args.kind).sample_rate // 1000} kHz, {kind_of(args.kind).licence})")
    return 0


def _pull_onnx(args: argparse.Namespace, config) -> int:
    from callqa.pipeline.speech.asr_onnx import kind_of, pull_onnx_model

    kind = kind_of(args.name)
    target = Path(args.dir) if args.dir else Path(config.section("models").asr.models_dir).expanduser() / args.name
    print(f"downloading {args.name} from {kind.repo_id} into {target.expanduser()} ...", file=sys.stderr)
    path = pull_onnx_model(args.name, target, "int8" if args.int8 else None)
    print(f"{args.name}: {path}")
    print(f"use it with:  models: {{asr: {{by_language: {{ru: \"{args.name}:{path}\"}}}}}}  in your --config file "
          f"(licence: {kind.licence})", file=sys.stderr)
    return 0


def _pull(args: argparse.Namespace, config) -> int:
    from callqa.pipeline.speech.asr import pull_model
    from callqa.pipeline.speech.asr_onnx import KINDS

    if args.name in KINDS:
        return _pull_onnx(args, config)
    if args.int8:
        print("callqa models pull: --int8 is for the onnx kinds (gigaam-v3-*, t-one)", file=sys.stderr)
        return 2
    target = Path(args.dir) if args.dir else Path(config.section("models").asr.models_dir)
    print(f"downloading {args.name} into {target.expanduser()} ...", file=sys.stderr)
    path = pull_model(args.name, target)  # ModelUnavailable -> exit 1 with the reason (cli.main)
    print(f"{args.name}: {path}")
    if not args.dir:
        print(f"use it with:  models: {{asr: {{model: {args.name}}}}}  in your --config file", file=sys.stderr)
    else:
        print(f"use it with:  models: {{asr: {{model: {path}}}}}  in your --config file", file=sys.stderr)
    return 0


def _list(config) -> int:
    from rich.table import Table

    from callqa.commands.common import console
    from callqa.pipeline.speech.asr import PYPI_MODELS, available_local, is_multilingual, pypi_parts, resolve_model
    from callqa.pipeline.errors import ModelUnavailable

    models = config.section("models")
    asr = models.asr
    table = Table(title="configured models")
    for col in ("stage", "model", "status"):
        table.add_column(col, overflow="fold")
    try:
        path = resolve_model(asr.model, asr.models_dir)
        kind = "multilingual" if is_multilingual(path) else "English only"
        status = f"[green]available[/green] ({kind}) {path}"
    except ModelUnavailable as e:
        status = f"[red]missing[/red]: {e}"
    table.add_row("asr", asr.model, status)
    for lang, model, state in asr_per_language(asr):
        table.add_row(f"asr ({lang})", model, state)
    diar = models.diarization
    pipeline = diar.pyannote.pipeline
    table.add_row("diarization", f"{diar.backend}" + (f" (pyannote: {pipeline})" if pipeline else ""),
                  "stereo: channels; mono: " + ("pyannote when it loads, else " if pipeline else "")
                  + "embedded (Silero VAD + resemblyzer)")
    sent = models.sentiment
    table.add_row("sentiment", sent.model or sent.backend,
                  "lexicon (no model)" if sent.backend == "lexicon" else f"transformers: {sent.model}")
    out = console()
    out.print(table)
    local = Table(title=f"ASR models available offline (models_dir: {Path(asr.models_dir).expanduser()})")
    local.add_column("name")
    local.add_column("path", overflow="fold")
    listed = set()
    for name, path in available_local(asr.models_dir):
        local.add_row(name, str(path))
        listed.add(name)
    for name in PYPI_MODELS:
        if name not in listed and pypi_parts(name) is not None:
            local.add_row(name, "installed from PyPI: joined into models_dir when first used")
    out.print(local)
    out.print("Get another one with [bold]callqa models pull NAME[/bold] (e.g. small, large-v3-turbo; for Russian "
              "gigaam-v3-e2e-rnnt, gigaam-v3-ctc or t-one) on a machine with internet access, or set "
              "models.asr.model / models.asr.by_language.<language> to a local directory.")
    return 0


def asr_per_language(asr) -> list[tuple[str, str, str]]:
    """(language, backend:model, status) for each language callqa handles or the config routes."""
    from callqa.pipeline.speech.asr_backend import OnnxAsrBackend, backend_for
    from callqa.pipeline.speech.asr_onnx import verify_model_dir
    from callqa.pipeline.errors import ModelUnavailable
    from callqa.pipeline.types import LANGUAGES

    rows = []
    for lang in dict.fromkeys([*LANGUAGES, *sorted(asr.by_language)]):
        where = f"models.asr.by_language.{lang}" if lang in asr.by_language else "models.asr.model"
        try:
            backend = backend_for(lang, asr)
            if isinstance(backend, OnnxAsrBackend):
                verify_model_dir(backend.kind, backend.path, backend.quantization)
                state = f"[green]available[/green] ({backend.sample_rate // 1000} kHz) {backend.path}"
            else:
                state = f"[green]available[/green] {backend.model_dir()}"
            rows.append((lang, backend.info().label, f"{state} ({where})"))
        except ModelUnavailable as e:
            rows.append((lang, asr.by_language.get(lang, "-"), f"[red]not served[/red]: {e}"))
    return rows
