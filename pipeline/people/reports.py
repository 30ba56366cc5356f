"""Operator scorecards and validation reports as self-contained HTML.

Charts are inline SVG drawn here (no JavaScript, no CDN: the machine is
offline); labels come from the competency map in the report's language.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import polars as pl

from callqa.pipeline.languages import label_language, ui_strings
from callqa.pipeline.scoring.competency import overall_score
from callqa.pipeline.people.grades import OperatorGrade, competency_frame, in_period, operator_grade, parse_period, weekly_trend
from callqa.pipeline.scoring.nominate import shown_competencies
from callqa.pipeline.people.plans import DevelopmentPlan, development_plan

TEMPLATES = Path(__file__).resolve().parent / "templates" / "report"
LEVEL_COLOURS = {1: "#d9534f", 2: "#f0ad4e", 3: "#5bc0de", 4: "#5cb85c", None: "#bbbbbb"}


@dataclass(frozen=True)
class CallRow:
    call_id: str
    started_at: str | None
    difficult: bool
    overall: float | None
    flags: tuple[str, ...]
    nominated: tuple[str, ...]


@dataclass(frozen=True)
class Scorecard:
    operator_id: str
    period: str
    grade: OperatorGrade
    plan: DevelopmentPlan
    trend: pl.DataFrame  # week, competency, mean, calls
    calls: tuple[CallRow, ...]
    flag_counts: dict[str, int] = field(default_factory=dict)
    category_counts: dict[str, int] = field(default_factory=dict)  # category id -> calls (configs/categories.yaml)
    category_names: dict[str, str] = field(default_factory=dict)  # category id -> its name as stored

    def serialize(self) -> dict[str, Any]:
        return {"operator_id": self.operator_id, "period": self.period, "grade": self.grade.serialize(),
                "plan": self.plan.serialize(), "flag_counts": self.flag_counts,
                "category_counts": self.category_counts,
                "calls": [c.__dict__ | {"flags": list(c.flags), "nominated": list(c.nominated)} for c in self.calls]}


def build_scorecard(results: Iterable[Mapping[str, Any]], operator_id: str, period: str, config: Any,
                    frame: pl.DataFrame | None = None) -> Scorecard:
    """Everything on an operator's scorecard for a period, from call result dicts
    (`frame` may be given when the caller already has it, e.g. from the store)."""
    results = list(results)
    frame = competency_frame(results) if frame is None else frame
    p = parse_period(period)
    grade = operator_grade(frame, operator_id, p, config)
    plan = development_plan(grade, results, config)
    mine_ids = set(in_period(frame, p).filter(pl.col("operator_id") == operator_id).get_column("call_id").to_list())
    rows: list[CallRow] = []
    flag_counts: Counter[str] = Counter()
    category_counts: Counter[str] = Counter()
    category_names: dict[str, str] = {}
    for res in results:
        if str(res.get("call_id")) not in mine_ids:
            continue
        flags = tuple(f.get("id") for f in res.get("flags") or [])
        flag_counts.update(flags)
        for c in res.get("categories") or []:  # saved searches the call is in (pipeline/scoring/categories.py)
            if isinstance(c, Mapping) and c.get("id"):
                category_counts[str(c["id"])] += 1
                category_names.setdefault(str(c["id"]), str(c.get("name") or c["id"]))
        # the one overall score, over the call's competencies as corrected by supervisors
        overall = overall_score(res.get("competencies") or [], config, res.get("role"))
        rows.append(CallRow(str(res["call_id"]), res.get("started_at"), bool(res.get("difficult")), overall, flags,
                            tuple(c for n in res.get("nominations") or [] for c in shown_competencies(n))))
    rows.sort(key=lambda r: (r.started_at or "", r.call_id))
    return Scorecard(operator_id, p.key, grade, plan, weekly_trend(frame, operator_id, p), tuple(rows),
                     dict(flag_counts.most_common()), dict(category_counts.most_common()), category_names)


# ---------------------------------------------------------------- SVG charts

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def bar_chart_svg(items: Sequence[Mapping[str, Any]], thresholds: Sequence[float], width: int = 720,
                  label_width: int = 250, bar_height: int = 22) -> str:
    """Horizontal bars 0..100: `items` = [{label, value, low, high, level, note}];
    CI whiskers, dashed lines at the level thresholds."""
    plot = width - label_width - 60
    height = 30 + len(items) * (bar_height + 8) + 20
    x = (lambda v: label_width + plot * max(0.0, min(100.0, v)) / 100.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" class="chart bars">']
    for t in thresholds:
        parts.append(f'<line x1="{x(t):.1f}" y1="18" x2="{x(t):.1f}" y2="{height - 18}" stroke="#999" '
                     f'stroke-dasharray="4 3"/><text x="{x(t):.1f}" y="12" font-size="10" text-anchor="middle" '
                     f'fill="#666">{t:g}</text>')
    for i, it in enumerate(items):
        y = 26 + i * (bar_height + 8)
        parts.append(f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" font-size="13" '
                     f'text-anchor="end">{_e(it["label"])}</text>')
        v = it.get("value")
        if v is None:
            parts.append(f'<text x="{label_width + 4}" y="{y + bar_height * 0.7:.1f}" font-size="12" '
                         f'fill="#888">—</text>')
            continue
        colour = LEVEL_COLOURS.get(it.get("level"), LEVEL_COLOURS[None])
        parts.append(f'<rect x="{label_width}" y="{y}" width="{x(v) - label_width:.1f}" height="{bar_height}" '
                     f'fill="{colour}"><title>{_e(it["label"])}: {v:.1f}</title></rect>')
        lo, hi = it.get("low"), it.get("high")
        if lo is not None and hi is not None:
            ym = y + bar_height / 2
            parts.append(f'<line x1="{x(lo):.1f}" y1="{ym}" x2="{x(hi):.1f}" y2="{ym}" stroke="#222" stroke-width="1.5"/>'
                         f'<line x1="{x(lo):.1f}" y1="{ym - 5}" x2="{x(lo):.1f}" y2="{ym + 5}" stroke="#222"/>'
                         f'<line x1="{x(hi):.1f}" y1="{ym - 5}" x2="{x(hi):.1f}" y2="{ym + 5}" stroke="#222"/>')
        parts.append(f'<text x="{max(x(v), x(hi) if hi is not None else 0) + 6:.1f}" y="{y + bar_height * 0.7:.1f}" '
                     f'font-size="12">{v:.0f}{_e(it.get("note") or "")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(series: Mapping[str, Sequence[tuple[str, float]]], width: int = 880, height: int = 260) -> str:
    """Lines over ordered x labels (e.g. ISO weeks), y 0..100; `series` = {name: [(x, y)]}."""
    xs = sorted({x for pts in series.values() for x, _ in pts})
    left, right, top, bottom = 40, 280, 15, 30
    pw, ph = width - left - right, height - top - bottom
    px = (lambda label: left + (pw * xs.index(label) / (len(xs) - 1) if len(xs) > 1 else pw / 2))
    py = (lambda v: top + ph * (1 - max(0.0, min(100.0, v)) / 100.0))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#000000"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" class="chart trend">']
    for v in (0, 25, 50, 75, 100):
        parts.append(f'<line x1="{left}" y1="{py(v):.1f}" x2="{left + pw}" y2="{py(v):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{py(v) + 4:.1f}" font-size="10" text-anchor="end">{v}</text>')
    for label in xs:
        parts.append(f'<text x="{px(label):.1f}" y="{height - 10}" font-size="10" text-anchor="middle">{_e(label)}</text>')
    for k, (name, pts) in enumerate(series.items()):
        colour = palette[k % len(palette)]
        pts = sorted(pts)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"><title>{_e(name)} {_e(x)}: '
                     f'{y:.1f}</title></circle>' for x, y in pts)
        ly = top + 14 * k + 8
        parts.append(f'<rect x="{left + pw + 12}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + pw + 26}" y="{ly + 1}" font-size="11">{_e(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- HTML

@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


def render_scorecard_html(card: Scorecard, config: Any, lang: str = "ru") -> str:
    """The scorecard in `lang` (a language of languages.known, else English); its words are
    configs/ui/<lang>.yaml `report.scorecard`."""
    cmap = config.section("competency_map")
    lang = label_language(config, lang)
    name = (lambda cid: cmap.competencies[cid].name.get(lang) if cid in cmap.competencies else cid)
    items = [{"label": name(g.competency), "value": g.mean, "low": g.ci_low, "high": g.ci_high,
              "level": g.level, "note": "" if g.enough_calls else " *"} for g in card.grade.competencies]
    thresholds = [lv.min_score for lv in cmap.levels[1:]]
    trend: dict[str, list[tuple[str, float]]] = {}
    for row in card.trend.iter_rows(named=True):
        trend.setdefault(name(row["competency"]), []).append((row["week"], row["mean"]))
    # categories by their name in `lang` (configured ones; a saved one keeps the name stored with its calls)
    try:
        from callqa.pipeline.scoring.categories import category_names

        cat_names = {**card.category_names, **category_names(config, None, lang)}
    except Exception:  # noqa: BLE001 - a name never stops the report
        cat_names = dict(card.category_names)
    card = replace(card, category_names={cid: cat_names.get(cid, name) for cid, name in card.category_names.items()})
    return _env().get_template("scorecard.html").render(
        card=card, lang=lang, T=ui_strings(config, lang, "report.scorecard"), cmap=cmap, name=name, min_calls=config.section("grading").min_calls,
        bars=bar_chart_svg(items, thresholds), trend=line_chart_svg(trend) if trend else "",
        level_colours=LEVEL_COLOURS)


def render_validation_html(correlations: pl.DataFrame | None, agreements: list[Any] | None, config: Any,
                           lang: str = "en") -> str:
    cmap = config.section("competency_map")
    lang = label_language(config, lang)
    name = (lambda cid: cmap.competencies[cid].name.get(lang) if cid in cmap.competencies else cid)
    return _env().get_template("validation.html").render(
        lang=lang, T=ui_strings(config, lang, "report.validation"), name=name, correlations=list(correlations.iter_rows(named=True)) if correlations is not None else None,
        agreements=agreements, weights=config.section("grading").validation.kappa_weights)
