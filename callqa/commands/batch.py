"""`callqa batch INBOX... [--store DIR] [--config FILE] [--workers N] [--reprocess]`:
the nightly Prefect flow over inbox folders, with a progress bar and a summary table.

Exit status: 0 when every call was processed or already stored, 1 when any file
failed (the others are still stored), 2 on bad usage or configuration, 3 when another
batch run holds the store (without --wait).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

from callqa.commands.common import console, load_checked_config

EXIT_LOCKED = 3


def project_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def data_dir() -> Path:
    """Where runtime state lives: $CALLQA_DATA_DIR, else the project's git-ignored
    `data/`, else ./data."""
    env = os.environ.get("CALLQA_DATA_DIR")
    if env:
        return Path(env).expanduser()
    root = project_root()
    return (root if root is not None else Path.cwd()) / "data"


def default_store() -> Path:
    """The store `batch`, `users` and `serve` use without --store (one default for all three)."""
    return data_dir() / "store"


def prepare_prefect_env(verbose: bool = False) -> None:
    """Prefect's home and database in the data directory, analytics and telemetry off.
    Must run before Prefect is imported; values the user set win."""
    os.environ.setdefault("PREFECT_HOME", str(data_dir() / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # Without a Prefect server (PREFECT_API_URL) each run starts a temporary one; on a
    # busy machine its first start (database migrations) can take longer than Prefect's 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inbox", nargs="+", metavar="INBOX",
                   help="folder(s) of recordings / transcript JSON files (+ manifest.csv or *.meta.json sidecars)")
    p.add_argument("--store", metavar="DIR", help="the store directory (default: data/store)")
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults in configs/")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="parallel calls: 1 = in this process; N > 1 = a local Dask cluster of N processes")
    p.add_argument("--dask-address", metavar="tcp://HOST:PORT", help="run the calls on an existing Dask cluster")
    p.add_argument("--reprocess", action="store_true", help="redo calls that are already in the store")
    p.add_argument("--wait", action="store_true", help="if another batch holds the store, wait for it")
    p.add_argument("--quarantine-dir", metavar="DIR",
                   help="move bad files here (default: only list them in the store and the report)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="show Prefect's logs")


def _progress_thread(store_path: Path, run_id: str, stop: threading.Event) -> threading.Thread:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from callqa.pipeline.store.db import Store, StoreError

    def loop() -> None:
        store = Store(store_path, busy_timeout_s=5)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("starting", total=None)
            while not stop.wait(0.5):
                try:
                    done, planned = store.run_progress(run_id)
                except StoreError:
                    continue
                if planned is not None:
                    progress.update(task, description="calls", total=planned, completed=done)

    t = threading.Thread(target=loop, name="callqa-progress", daemon=True)
    t.start()
    return t


def run_flow(args: argparse.Namespace, inboxes: list[str], store_path: Path, config_file: str | None,
             run_id: str, *, progress: bool, quarantine_dir: str | None = None) -> dict[str, Any] | int:
    """Run the nightly flow; the summary dict, or EXIT_LOCKED when the store is busy."""
    from callqa.pipeline.store.db import Store, StoreLocked

    try:  # fail fast, before a Prefect run is created, when another run holds the store
        with Store(store_path).lock(wait=bool(getattr(args, "wait", False))):
            pass
    except StoreLocked as e:
        print(f"callqa batch: {e}", file=sys.stderr)
        return EXIT_LOCKED
    from callqa.flows.nightly import nightly_batch

    stop = threading.Event()
    thread = _progress_thread(store_path, run_id, stop) if progress else None
    try:
        return nightly_batch(inbox=inboxes, store=str(store_path), config=config_file,
                             reprocess=bool(getattr(args, "reprocess", False)), workers=args.workers,
                             dask_address=getattr(args, "dask_address", None), quarantine_dir=quarantine_dir,
                             wait_for_lock=bool(getattr(args, "wait", False)), run_id=run_id)
    except StoreLocked as e:
        print(f"callqa batch: {e}", file=sys.stderr)
        return EXIT_LOCKED
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=2)


def print_summary(summary: dict[str, Any], title: str = "callqa batch") -> None:
    from rich.table import Table

    out = console()
    table = Table(title=f"{title} · run {summary['run_id']}")
    for col in ("found", "processed", "skipped", "failed", "flagged", "nominated", "audio", "wall", "speed"):
        table.add_column(col, justify="right", no_wrap=True)
    rate = summary.get("audio_s_per_wall_s")
    table.add_row(str(summary["discovered"]), str(summary["processed"]), str(summary["skipped"]),
                  f"[red]{summary['failed']}[/red]" if summary["failed"] else "0", str(summary["flagged"]),
                  str(summary["nominated"]), f"{summary['audio_s']:.0f} s", f"{summary['wall_s']:.1f} s",
                  "" if rate is None else f"{rate:.1f}×")
    out.print(table)
    failures = summary.get("failures") or []
    if failures:
        ft = Table(title="failed / quarantined files", title_justify="left")
        for col in ("file", "call id", "reason"):
            ft.add_column(col, overflow="fold")
        for f in failures:
            ft.add_row(str(f["path"]), str(f.get("call_id") or ""), str(f["reason"]))
        out.print(ft)
    out.print(f"store: {summary['store']}", soft_wrap=True)
    from callqa.pipeline.qa.alerts import describe

    alerts = describe((summary.get("extra") or {}).get("alerts"))
    if alerts:
        out.print(alerts, soft_wrap=True, markup=False)
    if summary.get("report"):
        out.print(f"nightly report: {summary['report']}", soft_wrap=True)


def run(args: argparse.Namespace) -> int:
    prepare_prefect_env(verbose=args.verbose)
    if args.workers < 1:
        print("callqa batch: --workers must be at least 1", file=sys.stderr)
        return 2
    load_checked_config(args.config)  # invalid configuration fails (exit 2, naming file and key) before anything runs
    for inbox in args.inbox:
        if not Path(inbox).is_dir():
            print(f"callqa batch: {inbox}: inbox is not a directory", file=sys.stderr)
            return 2
    from callqa.pipeline.batch import MANIFEST, new_run_id
    from callqa.pipeline.errors import InputError
    from callqa.pipeline.inputs import read_manifest

    for inbox in args.inbox:  # a bad manifest stops the run (its metadata is promised): say so before the flow starts
        if (Path(inbox) / MANIFEST).is_file():
            try:
                read_manifest(Path(inbox) / MANIFEST)
            except InputError as e:
                print(f"callqa batch: error: {e}; nothing was processed", file=sys.stderr)
                return 1

    store_path = Path(args.store) if args.store else default_store()
    progress = not args.no_progress and sys.stderr.isatty()
    summary = run_flow(args, [str(Path(i).resolve()) for i in args.inbox], store_path.resolve(),
                       None if args.config is None else str(Path(args.config).resolve()), new_run_id(),
                       progress=progress, quarantine_dir=args.quarantine_dir)
    if isinstance(summary, int):
        return summary
    print_summary(summary)
    return 1 if summary["failed"] else 0
