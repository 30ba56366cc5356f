"""The `callqa` command. Each sub-command lives in `callqa/commands/<name>.py`
with `add_arguments(parser)` and `run(args) -> int`; modules load only when
their command runs, so `callqa --help` stays fast."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from callqa.pipeline import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("callqa.commands.analyze", "analyse recordings or transcript JSON files; write <call_id>.json each"),
    "batch": ("callqa.commands.batch", "run the nightly flow over an inbox folder into a store"),
    "report": ("callqa.commands.report", "operator scorecards and period reports (HTML, CSV)"),
    "validate": ("callqa.commands.validate", "correlate competency scores with KPIs; agreement with human QA"),
    "serve": ("callqa.commands.serve", "the supervisor web app"),
    "users": ("callqa.commands.users", "manage web app users"),
    "models": ("callqa.commands.models", "list or pull models for offline use"),
    "demo": ("callqa.commands.demo", "the whole job on sample_calls/ with the embedded defaults"),
    "sample": ("callqa.commands.sample", "the week's review sample per operator, supervisors' lists, coverage"),
    "rescore": ("callqa.commands.rescore", "recompute scores, flags and nominations from stored transcripts (no ASR)"),
    "search": ("callqa.commands.search", "find moments in every stored transcript: words in any form, \"phrases\", NEAR, AND/OR/NOT, scopes, filters"),
}


def _quiet_environment() -> None:
    """Offline, no telemetry: set before any model library is imported."""
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="callqa", description="Offline call-recording analysis for contact centres: diarized transcripts, "
                                   "signals, evidence-backed competency scores, review queue.")
    parser.add_argument("--version", action="version", version=f"callqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers = {name: sub.add_parser(name, help=help_, description=help_)
                  for name, (_, help_) in COMMANDS.items()}
    return parser, subparsers


def main(argv: list[str] | None = None) -> int:
    _quiet_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    name = next((a for a in argv if not a.startswith("-")), None)
    if name in COMMANDS:
        try:
            module = importlib.import_module(COMMANDS[name][0])
        except ModuleNotFoundError as e:
            if e.name == COMMANDS[name][0]:
                print(f"callqa: '{name}' is not available in this version", file=sys.stderr)
                return 2
            raise
        module.add_arguments(subparsers[name])
        subparsers[name].set_defaults(_run=module.run)
    args = parser.parse_args(argv)  # exits 2 on bad usage
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from callqa.pipeline.errors import CallqaError

    try:
        return int(args._run(args) or 0)
    except CallqaError as e:
        print(f"callqa: error: {e}", file=sys.stderr)
        return 2 if e.__class__.__name__ == "ConfigError" else 1
    except KeyboardInterrupt:
        print("callqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
