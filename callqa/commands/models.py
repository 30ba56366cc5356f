"""`callqa models list` and `callqa models pull NAME [--dir DIR]`: which models the
configuration uses and whether they are on disk; download one for offline use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults in configs/")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    lst = sub.add_parser("list", help="configured models and the ASR models available offline")
    pull = sub.add_parser("pull", help="download an ASR model (needs internet) into the models directory")
    for sp in (lst, pull):  # `--config` is accepted before or after the action
        sp.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    pull.add_argument("name", metavar="NAME", help="a faster-whisper size (small, large-v3-turbo, ...) or a "
                                                   "Hugging Face id of a CTranslate2 Whisper model")
    pull.add_argument("--dir", metavar="DIR", help="where to put it (default: models.asr.models_dir)")


def run(args: argparse.Namespace) -> int:
    from callqa.pipeline.config import load_config

    config = load_config(args.config)
    if args.action == "pull":
        return _pull(args, config)
    if args.action in (None, "list"):
        return _list(config)
    print(f"callqa models: unknown action {args.action!r}", file=sys.stderr)
    return 2


def _pull(args: argparse.Namespace, config) -> int:
    from callqa.models.asr import pull_model

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
    from callqa.models.asr import available_local, is_multilingual, resolve_model
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
    for name, path in available_local(asr.models_dir):
        local.add_row(name, str(path))
    out.print(local)
    out.print("Get another one with [bold]callqa models pull NAME[/bold] (e.g. small, large-v3-turbo) on a "
              "machine with internet access, or set models.asr.model to a local directory.")
    return 0
