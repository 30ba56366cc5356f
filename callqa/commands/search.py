"""`callqa search QUERY [--store DIR] [--config FILE] [--json] [--limit N] [--sort date|relevance] [--all-moments]`:
find moments in every stored transcript (README "Search" has the query language). Words are
read by the languages of the configuration (configs/languages.yaml, with `--config` over it,
as for the batch); messages are in English.

Exit status: 0 (with or without hits), 2 on a syntax error (the message shows the position)
or a missing store. The index (STORE/search) is brought up to date first when the store
holds analyses it lacks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", metavar="QUERY", help='e.g. \'client:(пожаловаться OR "позовите руководителя") '
                                                  'team:blue from:2026-11-01\'')
    p.add_argument("--store", metavar="DIR", help="the store directory (default: data/store)")
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults (as for the batch): "
                                                    "its languages read the words")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of hits {call_id, start, end, speaker, quote, ...}")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N moments (default: 20)")
    p.add_argument("--sort", choices=("date", "relevance"), default="date",
                   help="newest calls first (default) or best-matching calls first")
    p.add_argument("--all-moments", action="store_true", help="every moment of a call (default: up to 3 per call)")


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"


_KNOWN_VALUES = {  # filter -> (SQL giving the values the store has, what they are called)
    "team": ("SELECT DISTINCT lower(team) AS v FROM calls WHERE team IS NOT NULL", "teams"),
    "operator_id": ("SELECT DISTINCT lower(operator_id) AS v FROM calls WHERE operator_id IS NOT NULL", "operators"),
    "flag": ("SELECT DISTINCT lower(flag_id) AS v FROM flags", "flags"),
}


def lowercase_operators(text: str) -> list[str]:
    """Operator words written in lower case outside "phrases" (`деньги and руководитель`): they are searched as
    words, which is rarely meant (README: operators are upper case)."""
    import re

    outside = re.sub(r'"[^"]*"?', " ", text)
    return [w for w in re.findall(r"[^\s()]+", outside)
            if re.fullmatch(r"(and|or|not|near(/\d+)?)", w, re.IGNORECASE) and w != w.upper()]


def unknown_filter_values(store: Path, filters: Any) -> list[str]:
    """After a search without hits: one line per filter value that no stored call has (a typo such as
    `team:nrth` or `flag:escalaton` otherwise looks like "nothing matched"), naming the values there are."""
    from callqa.pipeline.store.db import Store

    db = Store(store)
    lines: list[str] = []
    for key, values in (filters or {}).items():
        if key == "category":
            from callqa.pipeline.scoring import categories as cats

            known = sorted({c.lower() for ids in cats.categories_by_call(db).values() for c in ids})
            label = "categories"
        elif key in _KNOWN_VALUES:
            sql, label = _KNOWN_VALUES[key]
            known = sorted(str(r["v"]) for r in db.query(sql) if r["v"])
        else:
            continue
        for v in values:
            if v not in known:
                shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
                lines.append(f"  no stored call has {key}:{v} ({label} in the store: {shown or 'none'})")
    return lines


def run(args: argparse.Namespace) -> int:
    from callqa.pipeline.search.query import QuerySyntaxError, languages, parse

    config = None
    if getattr(args, "config", None):
        from callqa.pipeline.config import load_config

        config = load_config(args.config)  # a ConfigError names the file and key (exit 2)
    langs = languages(config)
    try:
        query = parse(args.query, langs)
    except QuerySyntaxError as e:
        print(f"callqa search: {e}", file=sys.stderr)
        return 2
    if args.limit < 1:
        print("callqa search: --limit must be at least 1", file=sys.stderr)
        return 2
    from callqa.commands.batch import default_store

    store = Path(args.store) if args.store else default_store()
    if not (store / "callqa.duckdb").is_file():
        print(f"callqa search: no store at {store} (run `callqa batch --store {store}` first)", file=sys.stderr)
        return 2
    for word in lowercase_operators(args.query):
        print(f"callqa search: note: '{word}' is searched as a word; operators are upper case "
              f"({word.upper()})", file=sys.stderr)
    from callqa.pipeline.search.index import search

    result = search(store, query, limit=args.limit, sort=args.sort, per_call=None if args.all_moments else 3,
                    config=langs)
    if args.json:
        print(json.dumps([h.serialize() for h in result.hits], ensure_ascii=False, indent=1))
        return 0
    from rich.table import Table
    from rich.text import Text

    from callqa.commands.common import console

    con = console()
    if not result.hits:
        con.print(f"no moments match {args.query!r}", markup=False, highlight=False)
        for hint in unknown_filter_values(store, query.filters):
            con.print(hint, markup=False, highlight=False)
        return 0
    table = Table(show_edge=False, pad_edge=False)
    for col in ("date", "call", "moment", "speaker", "quote"):
        table.add_column(col, no_wrap=col != "quote")
    for h in result.hits:
        quote = Text(h.quote)
        for a, b in h.highlights:
            quote.stylize("bold reverse", a, b)
        started = str(h.meta.get("started_at") or "")[:16].replace("T", " ")
        table.add_row(started or "-", h.call_id, _clock(h.start), h.speaker, quote)
    con.print(table)
    more = " (more: raise --limit)" if result.more else ""
    con.print(f"{len(result.hits)} moments in {len({h.call_id for h in result.hits})} calls{more}")
    return 0
