"""`callqa report`: the operator scorecard (self-contained HTML with inline SVG
charts, Russian and English labels) and the period grades CSV."""

from __future__ import annotations

import json
import re
import sys

import polars as pl
import pytest
from test_indicators import bad_call, difficult_calm_call, good_call, scored

from callqa.cli import main


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, config):
    """Scored calls of two operators over Q4 2026 (and one in Q3)."""
    out = tmp_path_factory.mktemp("results")
    plan = [("op-1", good_call, "2026-10-06"), ("op-1", bad_call, "2026-10-07"), ("op-1", bad_call, "2026-10-14"),
            ("op-1", difficult_calm_call, "2026-11-03"), ("op-1", good_call, "2026-11-10"),
            ("op-1", bad_call, "2026-12-01"), ("op-1", good_call, "2026-09-30"),
            ("op-2", difficult_calm_call, "2026-10-08"), ("op-2", good_call, "2026-10-09"),
            ("op-2", good_call, "2026-11-20")]
    results = []
    for n, (op, build, day) in enumerate(plan):
        res = scored(build(call_id=f"call-{n:02d}", operator_id=op, started_at=f"{day}T10:00:00+03:00"), config)
        results.append(res)
        (out / f"call-{n:02d}.json").write_text(json.dumps(res, ensure_ascii=False), encoding="utf-8")
    return out, results


def _mean(results, operator, competency, months=("2026-10", "2026-11", "2026-12")):
    vals = [c["score"] for r in results if r["operator_id"] == operator and r["started_at"][:7] in months
            for c in r["competencies"] if c["id"] == competency and c["score"] is not None]
    return sum(vals) / len(vals), len(vals)


def _not_observable(results, call_id, competency):
    comp = next(c for r in results if r["call_id"] == call_id for c in r["competencies"] if c["id"] == competency)
    return comp["score"] is None and comp["level"] is None and comp["reason"] == "not observable in this call"


def test_operator_scorecard_html_is_self_contained_with_charts(results_dir, tmp_path, config, capsys):
    rdir, results = results_dir
    target = tmp_path / "card.html"
    assert main(["report", "operator", "op-1", "--period", "2026-Q4", "--results", str(rdir),
                 "--out", str(target)]) == 0
    html = target.read_text(encoding="utf-8")
    assert html.count("<svg") >= 2  # competency bars and the weekly trend
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="https?://', html)  # nothing to fetch: the machine is offline
    # Russian labels from the competency map
    cmap = config.section("competency_map")
    for comp in cmap.competencies.values():
        assert comp.name.ru in html
    assert "Карта компетенций оператора" in html
    # the figures: op-1 has 6 calls in Q4 (the September one is not counted)
    mean, n = _mean(results, "op-1", "active_listening")
    row = re.search(r'<tr data-competency="active_listening">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[2] == f"{mean:.1f}" and cells[5] == str(n) == "6" and cells[6] == "4"  # the bad calls escalate: difficult too
    # clear speech is not observable in the calm difficult call (no fillers, no long monologue: only absences and
    # the speech rate), so that call is not counted for it: 5 calls, 3 of them difficult
    assert _not_observable(results, "call-03", "clear_speech")
    mean, n = _mean(results, "op-1", "clear_speech")
    row = re.search(r'<tr data-competency="clear_speech">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[2] == f"{mean:.1f}" and cells[5] == str(n) == "5" and cells[6] == "3"
    printed = capsys.readouterr().out
    assert "6 calls" in printed and "4 difficult" in printed


def test_scorecard_in_english_with_plan_and_exemplary_links(results_dir, tmp_path, config):
    rdir, results = results_dir
    target = tmp_path / "card-en.html"
    data = tmp_path / "card.json"
    assert main(["report", "operator", "op-1", "--period", "2026-Q4", "--results", str(rdir), "--out", str(target),
                 "--lang", "en", "--json", str(data)]) == 0
    html = target.read_text(encoding="utf-8")
    assert "Operator competency scorecard" in html and "Needs discovery" in html
    assert "Выявление потребностей" not in html
    card = json.loads(data.read_text(encoding="utf-8"))
    items = card["plan"]["items"]
    assert items, "op-1 has weak competencies"
    means = [i["mean"] for i in items]
    assert means == sorted(means)
    actions = config.section("development").actions
    first = items[0]
    assert first["actions"]["en"][0] in html.replace("&#34;", '"').replace("&quot;", '"')
    assert actions[first["competency"]].en == first["actions"]["en"]
    # exemplary calls come from the other operator, difficult-turned-positive first
    linked = [e for i in items for e in i["exemplary"]]
    assert linked and all(e["operator_id"] == "op-2" for e in linked)
    for e in linked:
        assert f'href="/calls/{e["call_id"]}"' in html
    by_comp = {i["competency"]: i["exemplary"] for i in items}
    for comp, ex in by_comp.items():
        if len(ex) > 1 and ex[0]["reason"] == "difficult_turned_positive":
            assert ex[0]["call_id"] == "call-07"
    # the grade block matches the frame
    grade = {c["competency"]: c for c in card["grade"]["competencies"]}
    mean, n = _mean(results, "op-1", "active_listening")
    assert grade["active_listening"]["mean"] == pytest.approx(mean, abs=0.01) and grade["active_listening"]["calls"] == n
    assert grade["active_listening"]["level"] in (1, 2, 3, 4)
    sr = grade["stress_resistance"]
    assert sr["calls"] == 4 and sr["difficult_calls"] == 4  # only the difficult calls (bad ones escalate)
    assert sr["level"] is None and sr["note"] == "not_enough_calls"


def test_week_and_month_periods(results_dir, tmp_path):
    rdir, _ = results_dir
    target = tmp_path / "w.html"
    assert main(["report", "operator", "op-1", "--period", "2026-W42", "--results", str(rdir),
                 "--out", str(target), "--json", str(tmp_path / "w.json")]) == 0
    card = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))
    assert card["period"] == "2026-W42" and card["grade"]["calls"] == 1  # 12..18 Oct: call-02 only
    assert main(["report", "operator", "op-1", "--period", "2026-11", "--results", str(rdir),
                 "--out", str(target), "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))["grade"]["calls"] == 2


def test_report_errors(results_dir, tmp_path, capsys, monkeypatch):
    rdir, _ = results_dir
    assert main(["report", "operator", "nobody", "--period", "2026-Q4", "--results", str(rdir),
                 "--out", str(tmp_path / "x.html")]) == 1
    assert "op-1" in capsys.readouterr().err  # names the operators there are
    assert main(["report", "operator", "op-1", "--period", "2026-Q9", "--results", str(rdir)]) == 2
    assert "2026-Q9" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", "operator", "op-1", "--period", "2026-Q4", "--results", str(empty)]) == 2
    assert "no call results" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "callqa.pipeline.store.db", None)  # a version without the store
    assert main(["report", "operator", "op-1", "--period", "2026-Q4", "--store", str(tmp_path)]) == 2
    assert "--store is not available" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_period_grades_csv(results_dir, tmp_path, config):
    rdir, results = results_dir
    target = tmp_path / "grades.csv"
    assert main(["report", "period", "--period", "2026-Q4", "--results", str(rdir), "--out", str(target)]) == 0
    grades = pl.read_csv(target)
    assert set(grades["operator_id"].unique().to_list()) == {"op-1", "op-2"}
    row = grades.filter((pl.col("operator_id") == "op-2") & (pl.col("competency") == "clear_speech")).row(0, named=True)
    mean, n = _mean(results, "op-2", "clear_speech")
    # op-2 has 3 calls in Q4; clear speech is not observable in the calm difficult one (call-07)
    assert _not_observable(results, "call-07", "clear_speech")
    assert row["mean"] == pytest.approx(mean) and row["calls"] == n == 2
    row = grades.filter((pl.col("operator_id") == "op-2") & (pl.col("competency") == "active_listening")).row(0, named=True)
    mean, n = _mean(results, "op-2", "active_listening")
    assert row["mean"] == pytest.approx(mean) and row["calls"] == n == 3
    assert row["level"] is None or row["enough_calls"]


def test_scorecard_from_a_store_matches_the_json_results(results_dir, tmp_path, config):
    try:
        from callqa.pipeline.store.db import Store
    except ImportError:
        pytest.skip("no store in this version")
    from callqa.pipeline.people.reports import build_scorecard

    rdir, results = results_dir
    store = Store(tmp_path / "store")
    for r in results:
        store.save(r)
    from_store = tmp_path / "s.json"
    assert main(["report", "operator", "op-1", "--period", "2026-Q4", "--store", str(tmp_path / "store"),
                 "--out", str(tmp_path / "s.html"), "--json", str(from_store)]) == 0
    a = json.loads(from_store.read_text(encoding="utf-8"))
    b = json.loads(json.dumps(build_scorecard(results, "op-1", "2026-Q4", config).serialize(), default=str))
    assert a["grade"] == b["grade"] and a["plan"] == b["plan"]
    assert main(["report", "operator", "op-1", "--period", "2026-Q4", "--store", str(tmp_path / "nowhere")]) == 2
