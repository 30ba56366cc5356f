"""`callqa analyze PATH... [--out DIR] [--config FILE] [--meta FILE]` (CONTRACTS.md)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from callqa.commands.common import ProgressHook, console, load_checked_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files, transcript JSON files or folders of them")
    p.add_argument("--out", default="out", metavar="DIR", help="where <call_id>.json files go (default: out)")
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults in configs/")
    p.add_argument("--meta", metavar="FILE", help="metadata (JSON/YAML) applied to the given calls")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="print tracebacks of unexpected errors")


def expand_inputs(paths: list[str]) -> list[Path]:
    from callqa.pipeline.inputs import is_audio_file, is_transcript_file

    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(c for c in p.iterdir()
                              if c.is_file() and (is_audio_file(c) or is_transcript_file(c))
                              and not c.name.endswith(".truth.json")))
        else:
            out.append(p)  # missing files are reported per call
    # A sidecar named beside its recording (`callqa analyze calls/*`) is that call's metadata, read with it,
    # not a call of its own; a sidecar given without its recording still fails, naming the file.
    stems = {_stem(p) for p in out if not _is_sidecar(p)}
    return [p for p in out if not (_is_sidecar(p) and _sidecar_stem(p) in stems)]


def _is_sidecar(path: Path) -> bool:
    from callqa.pipeline.inputs import sidecar_stem

    return sidecar_stem(path.name) is not None


def _sidecar_stem(path: Path) -> Path:
    from callqa.pipeline.inputs import sidecar_stem

    return path.with_name(sidecar_stem(path.name) or path.name)


def _stem(path: Path) -> Path:
    return path.with_name(path.name[: -len(path.suffix)] if path.suffix else path.name)


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    from callqa.pipeline.jsonable import dumps

    tmp.write_text(dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    from callqa.pipeline.errors import CallqaError
    from callqa.pipeline.inputs import read_meta_file
    from callqa.pipeline.process import process_call

    config = load_checked_config(args.config)  # invalid configuration fails before any call is processed
    try:  # a --meta file that cannot be read is bad usage: nothing is analysed (exit 2, not "some failed")
        meta = read_meta_file(Path(args.meta)) if args.meta else None
    except CallqaError as e:
        print(f"callqa analyze: --meta: {e}", file=sys.stderr)
        return 2
    files = expand_inputs(args.paths)
    if not files:
        print("callqa analyze: no audio or transcript files found", file=sys.stderr)
        return 2
    if meta is not None and meta.call_id and len(files) > 1:
        print("callqa analyze: --meta sets call_id, so it can name only one PATH", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    rows: list[tuple[str, str, dict | None, str]] = []
    written: dict[str, Path] = {}  # call id -> the input whose result has it (two inputs, one file: refused)
    with ProgressHook(total=len(files), enabled=not args.no_progress) as progress:
        for path in files:
            progress.start_call(path.name)
            if _is_sidecar(path):
                rows.append((path.name, "failed", None, f"{path}: metadata sidecar, not a call: give the recording "
                                                        f"beside it ({_sidecar_stem(path).name}.*) or use --meta"))
                progress.finish_call()
                continue
            try:
                result = process_call(path, config, meta=meta, hook=progress.hook)
                data = result.serialize()
                target = out_dir / f"{result.call_id}.json"
                if result.call_id in written:
                    rows.append((path.name, "failed", None,
                                 f"{path}: call id '{result.call_id}' is also the call id of {written[result.call_id]} "
                                 f"(its result {target} is kept, not overwritten): give this call its own call_id "
                                 f"in its metadata"))
                    progress.finish_call()
                    continue
                write_json_atomic(target, data)
                written[result.call_id] = path
                rows.append((path.name, "ok", data, str(target)))
            except CallqaError as e:
                message = str(e)
                if str(path) not in message and path.name not in message:  # e.g. a set-up error from deep inside
                    message = f"{path}: {message}"
                rows.append((path.name, "failed", None, message))
            except Exception as e:  # one bad call never stops the others
                if args.debug:
                    traceback.print_exc()
                rows.append((path.name, "failed", None, f"{path}: unexpected error: {type(e).__name__}: {e}"))
            progress.finish_call()
    _print_table(rows)
    print(f"results: {out_dir}/<call_id>.json ({sum(r[1] == 'ok' for r in rows)} written)")
    for name, status, data, _ in rows:  # e.g. a language not configured, analysed as another (README)
        for warning in ((data or {}).get("processing") or {}).get("warnings") or []:
            print(f"callqa: warning: {name}: {warning}", file=sys.stderr)
    failed = [r for r in rows if r[1] != "ok"]
    for _, _, _, message in failed:
        print(f"callqa: error: {message}", file=sys.stderr)
    return 1 if failed else 0


def _print_table(rows: list[tuple[str, str, dict | None, str]]) -> None:
    from rich.table import Table

    table = Table(title="callqa analyze", show_lines=False)
    for col in ("file", "status", "call_id", "lang", "dur", "turns", "op talk", "script", "flags"):
        table.add_column(col, overflow="fold")
    for name, status, data, where in rows:
        if data is None:
            table.add_row(name, "[red]failed[/red]", "", "", "", "", "", "", "")
            continue
        sig = data.get("signals") or {}
        ratio = sig.get("talk_ratio_operator")
        compliance = (sig.get("script") or {}).get("compliance")
        if any(f["id"] == "role_uncertain" for f in data.get("flags") or []):
            ratio = compliance = None  # whose talk and whose script is unknown: show nothing, not a guess
        if any(f["id"] in ("no_speech", "asr_no_words") for f in data.get("flags") or []):
            compliance = None  # nothing was transcribed: no script was checked (not "0%")
        script = "" if compliance is None else f"{compliance:.0%}"
        if compliance is not None and (sig.get("script") or {}).get("not_applicable"):
            script = "n/a"  # too short or one-sided: the script was not required (signals.script.not_applicable)
        table.add_row(name, "[green]ok[/green]", data["call_id"], data["language"], f"{data['duration_s']:.0f}s",
                      str(len(data["transcript"]["turns"])), "" if ratio is None else f"{ratio:.0%}",
                      script,
                      ", ".join(f["id"] for f in data.get("flags") or []) or "-")
    console().print(table)
