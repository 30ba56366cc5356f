"""The per-night HTML report: what the batch did, what failed and why, the calls a
supervisor should look at first (flags by severity, with moment and quote) and the
exemplary calls nominated for the training library."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callqa.pipeline.batch import BatchSummary
    from callqa.pipeline.store.db import Store

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "nightly"
REPORT_LANGUAGE = "en"  # templates/nightly/report.html.j2 is written in English


def _clock(seconds: Any) -> str:
    if seconds is None:
        return ""
    s = int(round(float(seconds)))
    return f"{s // 60}:{s % 60:02d}"


def _duration(seconds: Any) -> str:
    if not seconds:
        return "0 s"
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _operator_overall(store: Store, run: str, config: Any) -> dict[str, float | None]:
    """Each operator's overall score over this run's calls: the one definition
    (grades.frame_overall), computed from the competency rows."""
    from callqa.pipeline.people.grades import competency_frame, frame_overall

    calls: dict[str, dict[str, Any]] = {}
    for r in store.query(
            "SELECT c.call_id, coalesce(c.operator_id, '(unknown)') AS operator_id, c.role, p.competency_id, p.score "
            "FROM calls c JOIN competencies p USING (call_id) WHERE c.run_id = ? AND c.status = 'ok' "
            "ORDER BY c.call_id", [run]):
        call = calls.setdefault(r["call_id"], {"call_id": r["call_id"], "operator_id": r["operator_id"],
                                               "role": r["role"], "competencies": []})
        call["competencies"].append({"id": r["competency_id"], "score": r["score"]})
    frame = competency_frame(calls.values())
    if not frame.height:
        return {}
    return {op: frame_overall(rows, config) for (op,), rows in frame.group_by("operator_id")}


def report_context(store: Store, summary: BatchSummary, config: Any = None) -> dict[str, Any]:
    """Everything the template shows, read from the store for this run's calls."""
    run = summary.run_id
    processed = [c.call_id for c in summary.calls if c.status == "processed"]
    flags = store.query(
        "SELECT f.call_id, f.flag_id, f.severity, f.severity_rank, f.reason, f.start, f.speaker, f.quote, "
        "c.operator_id, c.team FROM flags f JOIN calls c USING (call_id) "
        "WHERE c.run_id = ? AND c.status = 'ok' ORDER BY f.severity_rank DESC, f.call_id, f.flag_idx", [run])
    nominations = store.query(
        "SELECT n.call_id, n.competency_id, coalesce(n.competencies, [n.competency_id]) AS competencies, n.score, "
        "n.reason, c.operator_id, c.difficult, c.scenario "
        "FROM nominations n JOIN calls c USING (call_id) WHERE c.run_id = ? "
        "ORDER BY n.score DESC NULLS LAST, n.call_id", [run])
    operators = store.query(
        "SELECT coalesce(c.operator_id, '(unknown)') AS operator_id, count(*) AS calls, "
        "sum(CASE WHEN c.n_flags > 0 THEN 1 ELSE 0 END) AS flagged, sum(c.duration_s) AS audio_s "
        "FROM calls c WHERE c.run_id = ? AND c.status = 'ok' GROUP BY 1 ORDER BY 1", [run])
    if config is None:
        from callqa.pipeline.config import load_config

        config = load_config()
    overall = _operator_overall(store, run, config)
    for o in operators:
        o["mean_score"] = overall.get(o["operator_id"])
    calls = store.query(
        "SELECT call_id, operator_id, language, duration_s, n_turns, n_flags, max_severity, n_nominations, "
        "difficult, source_path FROM calls WHERE run_id = ? AND status = 'ok' ORDER BY call_id", [run])
    failures = store.quarantine(run)
    from callqa.pipeline.scoring.categories import category_names, category_summary

    categories = category_summary(store, [c["call_id"] for c in calls])  # saved searches, issue 13
    # the report is in English: a category's English name (configured or saved), not the name stored
    # with whichever call came first (a Russian call stores its Russian name)
    try:
        names = category_names(config, store, REPORT_LANGUAGE)
    except Exception:  # noqa: BLE001 - a name never stops the report: the stored one is shown
        names = {}
    for c in categories:
        c["name"] = names.get(c["id"]) or c["name"]
        if c["example"]:
            c["example"]["at"] = _clock(c["example"]["start"])
    report_dir = store.reports_dir
    for f in flags:
        f["at"] = _clock(f["start"])
    for c in calls:
        c["duration"] = _duration(c["duration_s"])
    for o in operators:
        o["audio"] = _duration(o["audio_s"])
    return {
        "summary": summary.serialize(), "counts": summary.counts(), "flags": flags, "nominations": nominations,
        "categories": categories,
        "operators": operators, "calls": calls, "failures": failures, "n_processed": len(processed),
        "audio": _duration(summary.audio_s), "store_path": str(store.path),
        "parquet_rel": os.path.relpath(store.parquet_dir, report_dir),
        "throughput": summary.audio_s_per_wall_s,
    }


def render_nightly_report(store: Store, summary: BatchSummary, config: Any = None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**report_context(store, summary, config))


def write_nightly_report(store: Store, summary: BatchSummary, config: Any = None) -> Path:
    """`STORE/reports/nightly-<run id>.html`, also copied to `STORE/reports/latest.html`."""
    html = render_nightly_report(store, summary, config)
    store.reports_dir.mkdir(parents=True, exist_ok=True)
    target = store.reports_dir / f"nightly-{summary.run_id}.html"
    for path in (target, store.reports_dir / "latest.html"):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, path)
    return target
