"""`callqa sample --store DIR --week 2026-W48 [--per-operator N] [--seed N] [--replace] [--json]`:
the week's review sample per operator (flagged, nominated, low ASR confidence, random), each
supervisor's "to review" list and the coverage per operator (reviewed / sampled / calls)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, metavar="DIR", help="a callqa store (callqa batch --store)")
    p.add_argument("--week", required=True, metavar="2026-W48", help="ISO week")
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults in configs/")
    p.add_argument("--per-operator", type=int, metavar="N", help="calls per operator (default: sampling.per_operator)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the draw (default: sampling.seed)")
    p.add_argument("--replace", action="store_true", help="draw the week again, replacing the stored sample")
    p.add_argument("--dry-run", action="store_true", help="show the sample without storing it")
    p.add_argument("--json", action="store_true", help="print the plan, lists and coverage as JSON")


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from callqa.commands.common import console
    from callqa.pipeline.config import load_config
    from callqa.pipeline.jsonable import dumps
    from callqa.pipeline.qa.sampling import parse_week, sample_week, supervisor_lists, unassigned
    from callqa.pipeline.store.db import Store

    if not Path(args.store).is_dir():
        print(f"callqa sample: no store at {args.store}", file=sys.stderr)
        return 2
    try:
        week = parse_week(args.week)
    except ValueError as e:
        print(f"callqa sample: --week: {e}", file=sys.stderr)
        return 2
    if args.per_operator is not None and args.per_operator < 1:
        print("callqa sample: --per-operator must be at least 1", file=sys.stderr)
        return 2
    config = load_config(args.config)
    store = Store(args.store)
    plan = sample_week(store, week, config, per_operator=args.per_operator, seed=args.seed,
                       replace=args.replace, save=not args.dry_run)
    from callqa.users import UserDB

    supervisors = UserDB(store.path).supervisors()
    lists = supervisor_lists(plan, supervisors)
    orphans = unassigned(plan, supervisors)
    if args.json:
        print(dumps({**plan.serialize(), "to_review": lists, "unassigned": orphans}, indent=2))
        return 0
    out = console()
    if not plan.operators:
        undated = f" ({plan.undated} calls have no start time)" if plan.undated else ""
        out.print(f"no analysed calls in {week}{undated}")
        return 0
    how = "stored sample" if plan.stored else ("not stored (--dry-run)" if args.dry_run else "new sample, stored")
    table = Table(title=f"Review sample {week}: {plan.per_operator} per operator, seed {plan.seed} ({how})")
    for col in ("operator", "team", "calls", "sampled", "reviewed", "coverage", "sample (stratum)"):
        table.add_column(col, justify="right" if col in ("calls", "sampled", "reviewed", "coverage") else "left")
    for o in plan.operators:
        cov = "—" if not o.sampled else f"{o.reviewed / o.sampled:.0%}"
        calls = ", ".join(f"{c.call_id} ({c.stratum}{', done' if c.reviewed else ''})" for c in o.calls)
        table.add_row(o.operator_id, o.team or "—", str(o.total), str(o.sampled), str(o.reviewed), cov, calls)
    out.print(table)
    for name, items in lists.items():
        out.print(f"[bold]{name}[/bold] to review: " + (", ".join(f"{r['call_id']} ({r['operator_id']})" for r in items)
                                                        if items else "nothing left"))
    if orphans:
        teams = sorted({r["team"] or "(no team)" for r in orphans})
        out.print(f"[bold]no supervisor[/bold] for {', '.join(teams)}: "
                  + ", ".join(f"{r['call_id']} ({r['operator_id']})" for r in orphans))
    if plan.undated:
        out.print(f"{plan.undated} calls have no start time and belong to no week")
    return 0
