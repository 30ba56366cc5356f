"""`callqa report operator ID --period 2026-Q4 (--results DIR | --store DIR) [--out FILE.html]`
and `callqa report period --period 2026-Q4 (--results DIR | --store DIR) [--out FILE.csv]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--results", metavar="DIR", help="folder of call result JSON files (callqa analyze --out)")
    src.add_argument("--store", metavar="DIR", help="a callqa store (callqa batch --store)")
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults in configs/")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="report_kind", metavar="KIND", required=True)
    op = sub.add_parser("operator", help="an operator's scorecard for a period (HTML with charts)")
    op.add_argument("operator_id", metavar="ID")
    op.add_argument("--period", required=True, help="2026-W47, 2026-11 or 2026-Q4")
    add_source_arguments(op)
    op.add_argument("--out", metavar="FILE.html", help="default: scorecard-<ID>-<period>.html")
    op.add_argument("--json", metavar="FILE", help="also write the scorecard's data as JSON")
    op.add_argument("--lang", default="ru", help="labels: a language of configs/languages.yaml (default: ru)")
    per = sub.add_parser("period", help="grades of every operator for a period (CSV)")
    per.add_argument("--period", required=True, help="2026-W47, 2026-11 or 2026-Q4")
    add_source_arguments(per)
    per.add_argument("--out", metavar="FILE.csv", help="default: grades-<period>.csv")


def load_source(args: argparse.Namespace, apply_overrides: bool = True, config: Any = None) -> list[dict[str, Any]] | None:
    """Call result dicts from --results DIR or --store DIR; None (after a message) when unusable.
    `apply_overrides=False` gives the automatic scores of stored calls, without supervisors' corrections;
    with them, a corrected level follows `config`'s competency map."""
    if getattr(args, "store", None):
        try:
            from callqa.pipeline.store.db import Store
        except ImportError:
            print("callqa: --store is not available in this version (no callqa.pipeline.store.db); "
                  "use --results DIR with the JSON files of `callqa analyze`", file=sys.stderr)
            return None
        if not Path(args.store).is_dir():
            print(f"callqa: no store at {args.store}", file=sys.stderr)
            return None
        return list(Store(args.store).results(apply_overrides=apply_overrides, config=config))
    from callqa.pipeline.people.grades import load_results

    results = load_results(Path(args.results))
    if not results:
        print(f"callqa: no call results (JSON with competencies) in {args.results}", file=sys.stderr)
        return None
    return results


def _period_or_exit(text: str):
    from callqa.pipeline.people.grades import parse_period

    try:
        return parse_period(text)
    except ValueError as e:
        print(f"callqa report: {e}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    from callqa.commands.common import console
    from callqa.pipeline.config import load_config
    from callqa.pipeline.scoring.settings import check_scoring_config

    config = load_config(args.config)
    check_scoring_config(config)
    known = config.section("languages").known
    if getattr(args, "lang", None) is not None and args.lang not in known:
        print(f"callqa report: --lang {args.lang}: not a language of "
              f"configs/languages.yaml ({', '.join(known)})", file=sys.stderr)
        return 2
    period = _period_or_exit(args.period)
    if period is None:
        return 2
    results = load_source(args, config=config)
    if results is None:
        return 2
    if args.report_kind == "operator":
        return _operator(args, config, period, results, console())
    return _period(args, config, period, results, console())


def _operator(args, config, period, results, out) -> int:
    from rich.table import Table

    from callqa.pipeline.people.reports import build_scorecard, render_scorecard_html

    card = build_scorecard(results, args.operator_id, period.key, config)
    if card.grade.calls == 0:
        known = sorted({str(r.get("operator_id")) for r in results if r.get("operator_id")})
        print(f"callqa report: operator {args.operator_id!r} has no calls in {period.key} "
              f"(operators in the results: {', '.join(known) or 'none'})", file=sys.stderr)
        return 1
    target = Path(args.out or f"scorecard-{args.operator_id}-{period.key}.html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_scorecard_html(card, config, args.lang), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(card.serialize(), ensure_ascii=False, indent=2, default=str),
                                   encoding="utf-8")
    cmap = config.section("competency_map")
    table = Table(title=f"{args.operator_id} · {period.key} · {card.grade.calls} calls "
                        f"({card.grade.difficult_calls} difficult)")
    for col in ("competency", "mean", "95% CI", "level", "calls", "difficult"):
        table.add_column(col)
    for g in card.grade.competencies:
        level = (f"{g.level} {cmap.level_name(g.level, args.lang)}" if g.level
                 else "not enough calls" if g.calls else "—")
        ci = f"{g.ci_low:.1f}–{g.ci_high:.1f}" if g.ci_low is not None else "—"
        table.add_row(cmap.competencies[g.competency].name.get(args.lang),
                      "—" if g.mean is None else f"{g.mean:.1f}", ci, level, str(g.calls), str(g.difficult_calls))
    out.print(table)
    out.print(f"scorecard: {target}")
    return 0


def _period(args, config, period, results, out) -> int:
    from callqa.pipeline.people.grades import competency_frame, grade_frame

    grades = grade_frame(competency_frame(results), config, period)
    target = Path(args.out or f"grades-{period.key}.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    grades.with_columns().write_csv(target)
    out.print(f"{grades.get_column('operator_id').n_unique() if grades.height else 0} operators, "
              f"{grades.height} grades -> {target}")
    return 0
