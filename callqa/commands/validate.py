"""`callqa validate (--results DIR | --store DIR) [--kpi FILE.csv] [--qa FILE.csv] [--out DIR]`:
Spearman correlation of competency scores with operator KPIs; agreement of the
automatic levels with human QA (weighted Cohen's kappa, MAE, confusion matrix)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callqa.commands.report import add_source_arguments, load_source


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--kpi", metavar="FILE.csv", help="operator_id, period (2026-Q4 / 2026-11 / 2026-W47), KPI columns")
    p.add_argument("--qa", metavar="FILE.csv", help="call_id, competency, level (1..4) and/or score (0..100); "
                                                "with --store and no --qa: the supervisors' score overrides")
    p.add_argument("--out", metavar="DIR", help="write kpi_correlations.csv, qa_agreement.csv, qa_confusion.csv, "
                                                "validation.html here")
    p.add_argument("--lang", default="en", help="labels in the HTML: a language of configs/languages.yaml (default: en)")


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from callqa.commands.common import console
    from callqa.pipeline.config import load_config
    from callqa.pipeline.errors import InputError
    from callqa.pipeline.people.grades import competency_frame
    from callqa.pipeline.people.reports import render_validation_html
    from callqa.pipeline.scoring.settings import check_scoring_config
    from callqa.pipeline.people.validate import (agreement_frame, confusion_frame, kpi_correlations, qa_agreement,
                                          read_csv)

    if not args.kpi and not args.qa and not getattr(args, "store", None):
        print("callqa validate: give --kpi FILE.csv and/or --qa FILE.csv (or --store with reviewed calls)",
              file=sys.stderr)
        return 2
    config = load_config(args.config)
    check_scoring_config(config)
    known = config.section("languages").known
    if getattr(args, "lang", None) is not None and args.lang not in known:
        print(f"callqa validate: --lang {args.lang}: not a language of "
              f"configs/languages.yaml ({', '.join(known)})", file=sys.stderr)
        return 2
    # Calibration compares automatic scores with human ones: never with overrides applied.
    results = load_source(args, apply_overrides=False)
    if results is None:
        return 2
    human_qa = None
    calibration = None
    if getattr(args, "store", None):  # closed calibration sessions: people's form answers vs the automatic ones
        from callqa.pipeline.qa.calibration import auto_agreement, closed_answers
        from callqa.pipeline.store.db import Store

        calibration = auto_agreement(closed_answers(Store(args.store), config)) or None
    if args.qa:
        human_qa = read_csv(args.qa, ("call_id", "competency"))
    elif getattr(args, "store", None):
        from callqa.pipeline.people.library import human_qa_frame
        from callqa.pipeline.store.db import Store

        human_qa = human_qa_frame(Store(args.store))
        if human_qa.is_empty():
            human_qa = None
            if not args.kpi and calibration is None:
                print(f"callqa validate: no score overrides in {args.store}; give --qa FILE.csv", file=sys.stderr)
                return 2
    frame = competency_frame(results)
    out = console()
    correlations = agreements = None
    if args.kpi:
        kpi = read_csv(args.kpi, ("operator_id", "period"))
        try:
            correlations = kpi_correlations(frame, kpi, config)
        except ValueError as e:
            raise InputError(args.kpi, str(e)) from None
        kpis = list(dict.fromkeys(correlations.get_column("kpi").to_list()))
        table = Table(title="Spearman correlation of competency scores with KPIs: rho (p-value, n)")
        table.add_column("competency")
        for k in kpis:
            table.add_column(k, justify="right")
        cells: dict[str, dict[str, str]] = {}
        for r in correlations.iter_rows(named=True):
            cells.setdefault(r["competency"], {})[r["kpi"]] = (
                f"— (n={r['n']})" if r["rho"] is None else f"{r['rho']:+.2f} ({r['p_value']:.2g}, {r['n']})")
        for comp, row in cells.items():
            table.add_row(comp, *(row.get(k, "") for k in kpis))
        out.print(table)
    if human_qa is not None:
        try:
            agreements = qa_agreement(frame, human_qa, config)
        except ValueError as e:
            raise InputError(args.qa or args.store, str(e)) from None
        weights = config.section("grading").validation.kappa_weights
        table = Table(title=f"Agreement with human QA (Cohen's kappa, {weights} weights)")
        for col in ("competency", "n", "kappa", "MAE level", "MAE score", "exact"):
            table.add_column(col, justify="left" if col == "competency" else "right")
        fmt = (lambda v, f="{:.3f}": "—" if v is None else f.format(v))
        for a in agreements:
            table.add_row(a.competency, str(a.n), fmt(a.kappa), fmt(a.mae_level), fmt(a.mae_score, "{:.1f}"),
                          fmt(a.exact, "{:.2f}"))
        out.print(table)
        conf = Table(title="Confusion matrices: human QA level (rows) x automatic level (columns)")
        for col in ("competency", "human", "auto 1", "auto 2", "auto 3", "auto 4"):
            conf.add_column(col, justify="left" if col == "competency" else "right")
        for a in agreements:
            for h in range(4):
                conf.add_row(a.competency if h == 0 else "", str(h + 1), *(str(int(v)) for v in a.confusion[h]),
                             end_section=h == 3)
        out.print(conf)
    if calibration is not None:
        table = Table(title="Calibration sessions (closed): people's form answers vs the automatic answers")
        for col in ("form", "question", "n", "agreement", "kappa", "MAE", "bias"):
            table.add_column(col, justify="left" if col in ("form", "question") else "right")
        fmt = (lambda v, f="{:.3f}": "—" if v is None else f.format(v))
        for c in calibration:
            table.add_row(c["form"], c["question"], str(c["n"]), fmt(c["agreement"], "{:.2f}"), fmt(c["kappa"]),
                          fmt(c["mae"], "{:.1f}"), fmt(c["bias"], "{:+.1f}"))
        out.print(table)
    if args.out:
        target = Path(args.out)
        target.mkdir(parents=True, exist_ok=True)
        if calibration is not None:
            import polars as pl

            pl.DataFrame(calibration, infer_schema_length=None).write_csv(target / "calibration_agreement.csv")
        if correlations is not None:
            correlations.write_csv(target / "kpi_correlations.csv")
        if agreements is not None:
            agreement_frame(agreements).write_csv(target / "qa_agreement.csv")
            confusion_frame(agreements).write_csv(target / "qa_confusion.csv")
        (target / "validation.html").write_text(render_validation_html(correlations, agreements, config, args.lang),
                                                encoding="utf-8")
        out.print(f"written to {target}")
    return 0
