"""`callqa rescore [--store DIR] [--config FILE] [--since DATE] [--calls ID...] [--force] [--json]`:
recompute signals, indicators, scores, flags and nominations from the transcripts the store
holds, under the configuration now: no decoding, no ASR (pipeline/rescore.py).

Prints the counts (rescored, unchanged, failed, no stored transcript, ASR runs) and each
failed call with its reason. Exit status: 0 when no call failed, 1 when any failed (the others
are still rescored), 2 on bad usage, invalid configuration or a missing store, 3 when a batch
holds the store (without --wait).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="DIR", help="the store directory (default: data/store)")
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults (as for the batch)")
    p.add_argument("--since", metavar="DATE", help="only calls started (else processed) on or after DATE (YYYY-MM-DD)")
    p.add_argument("--calls", metavar="ID", nargs="+", action="extend",
                   help="only these call ids (space or comma separated)")
    p.add_argument("--force", action="store_true", help="recompute calls whose analysis identity is unchanged too")
    p.add_argument("--wait", action="store_true", help="wait for a running batch instead of exiting with status 3")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from callqa.commands.batch import EXIT_LOCKED, default_store

    if args.since is not None:
        try:
            date.fromisoformat(args.since[:10])
        except ValueError:
            print(f"callqa rescore: --since {args.since!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
            return 2
    calls = None
    if args.calls:
        calls = [c.strip() for arg in args.calls for c in arg.split(",") if c.strip()]
    store = Path(args.store) if args.store else default_store()
    if not (store / "callqa.duckdb").is_file():
        print(f"callqa rescore: no store at {store} (run `callqa batch --store {store}` first)", file=sys.stderr)
        return 2
    from callqa.commands.common import load_checked_config
    from callqa.pipeline.rescore import rescore_store
    from callqa.pipeline.store.db import StoreLocked

    load_checked_config(args.config)  # a broken category query fails here (exit 2), not once per call

    try:
        summary = rescore_store(store, args.config, since=args.since, call_ids=calls, force=args.force,
                                wait=args.wait)
    except StoreLocked as e:
        print(f"callqa rescore: {e}", file=sys.stderr)
        return EXIT_LOCKED
    if summary.rescored:  # the search index (STORE/search) follows the new analyses
        from callqa.pipeline.search.index import refresh

        line = refresh(store, args.config)
        if not args.json:
            print(line)
    if args.json:
        print(json.dumps(summary.serialize(), ensure_ascii=False, indent=1))
    else:
        c = summary.counts()
        print(f"rescored {c['rescored']}, unchanged {c['unchanged']}, failed {c['failed']}, "
              f"no stored transcript {c['missing_transcript']}, ASR runs {c['asr_runs']} "
              f"({summary.wall_s:.1f} s)")
        if summary.outdated:
            print(f"{len(summary.outdated)} stored transcripts were made under other speech settings: "
                  "the next batch transcribes those calls again")
        if summary.missing:
            print("calls without a stored transcript (analysed before store version 4): the next batch "
                  "transcribes them again: " + ", ".join(summary.missing[:10])
                  + (" ..." if len(summary.missing) > 10 else ""))
        for f in summary.failed:
            print(f"failed {f['call_id']}: {f['reason']}", file=sys.stderr)
    return 1 if summary.failed else 0
