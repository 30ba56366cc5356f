"""Categories (issue 13): saved searches evaluated on every call as part of its analysis, stored
with their evidence (moment and quote), raising a flag with a severity when configured; saved
from the web app into the store and applied from the next batch; part of the analysis identity;
counted in the nightly report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.scoring import categories as cats

SAMPLES = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"

USER_CONFIG = {
    "categories": {
        "churn_threat": {"flag": {"severity": "critical"}},  # a default category, now flagged
        "double_charge": {
            "name": {"ru": "Двойное списание", "en": "Double charge"},
            "query": 'client:("два раза" OR "two times" OR дважды OR twice)',
            "flag": {"severity": "low"},
        },
    }
}


def _write_config(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "user.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def _by_id(items):
    return {c["id"]: c for c in items}


@pytest.fixture(scope="module")
def user_config(tmp_path_factory):
    path = _write_config(tmp_path_factory.mktemp("cfg"), USER_CONFIG)
    return path, load_config(path)


def test_a_category_is_found_with_its_evidence_and_raises_its_flag(user_config):
    from callqa.pipeline.process import process_call

    _, config = user_config
    result = process_call(SAMPLES / "ru_bad_inbound_tx.json", config).serialize()
    found = _by_id(result["categories"])
    assert {"churn_threat", "complaint_threat", "manager_request", "refund_request", "double_charge"} <= set(found)
    churn = found["churn_threat"]
    assert churn["name"] == "Угроза ухода"  # the call's language
    [ev] = churn["evidence"]  # "Я закрою счёт в вашем банке." — said by the client at 61.18 s
    assert ev["speaker"] == "client" and ev["start"] == pytest.approx(61.18, abs=0.01)
    assert "закрою счёт" in ev["quote"] and ev["end"] > ev["start"]
    assert "жаловаться" in found["complaint_threat"]["evidence"][0]["quote"]
    assert found["double_charge"]["evidence"][0]["start"] == pytest.approx(2.02, abs=0.01)
    flags = _by_id(result["flags"])
    assert flags["category:churn_threat"]["severity"] == "critical"
    assert flags["category:churn_threat"]["reason"].startswith("Категория «Угроза ухода» (1): «")
    assert flags["category:double_charge"]["severity"] == "low"
    assert "category:manager_request" not in flags  # no flag configured for it
    assert result["flags"][0]["id"] == "category:churn_threat"  # the most severe first


def test_a_calm_good_call_is_in_no_complaint_category(user_config):
    from callqa.pipeline.process import process_call

    _, config = user_config
    result = process_call(SAMPLES / "en_good_inbound_tx.json", config).serialize()
    ids = {c["id"] for c in result["categories"]}
    assert not ids & {"churn_threat", "complaint_threat", "manager_request", "double_charge"}
    assert "card_not_working" in ids  # "My bank card stopped working this morning"
    assert not [f for f in result["flags"] if f["id"].startswith("category:")]


def test_the_category_flag_rule_switches_every_category_flag_off(tmp_path):
    from callqa.pipeline.process import process_call

    config = load_config(_write_config(tmp_path, {**USER_CONFIG, "flags": {"category": {"enabled": False}}}))
    result = process_call(SAMPLES / "en_bad_inbound_tx.json", config).serialize()
    assert "churn_threat" in {c["id"] for c in result["categories"]}  # still a category ...
    assert not [f for f in result["flags"] if f["id"].startswith("category:")]  # ... without a flag


def test_a_bad_category_query_names_the_key_and_the_column(tmp_path):
    config = load_config(_write_config(tmp_path, {"categories": {"broken": {
        "name": {"en": "Broken"}, "query": "client:(refund OR"}}}))
    with pytest.raises(ConfigError) as e:
        cats.category_defs(config)
    assert "categories.broken.query" in str(e.value) and "column" in str(e.value)
    with pytest.raises(ConfigError) as e:  # a bad id or severity fails when the configuration loads
        load_config(_write_config(tmp_path, {"categories": {"Bad-Id": {"name": {"en": "x"}, "query": "x"}}}))
    assert "Bad-Id" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(_write_config(tmp_path, {"categories": {"x": {"name": {"en": "x"}, "query": "x",
                                                                   "flag": {"severity": "urgent"}}}}))
    assert "categories.x.flag.severity" in str(e.value)


def test_categories_are_part_of_the_analysis_identity(tmp_path):
    from callqa.pipeline.identity import analysis_id, transcript_id

    base = load_config()
    changed = load_config(_write_config(tmp_path, USER_CONFIG))
    assert transcript_id("abc", base) == transcript_id("abc", changed)
    assert analysis_id("abc", base) != analysis_id("abc", changed)


def _inbox(tmp_path: Path, name: str, *samples: str) -> Path:
    inbox = tmp_path / name
    inbox.mkdir()
    for s in samples:
        (inbox / f"{s}.json").write_text((SAMPLES / f"{s}.json").read_text(encoding="utf-8"), encoding="utf-8")
    return inbox


def test_batch_stores_categories_then_a_saved_category_applies_from_the_next_batch_and_rescore(tmp_path, user_config):
    from callqa.pipeline.batch import run_batch
    from callqa.pipeline.search.query import match_call
    from callqa.pipeline.store.db import Store

    cfg_path, config = user_config
    store = Store(tmp_path / "store")
    summary = run_batch([_inbox(tmp_path, "night1", "en_bad_inbound_tx", "en_good_inbound_tx")], store.path,
                        cfg_path, report=False)
    assert summary.processed == 2
    bad = store.get("en_bad_inbound_tx")
    found = _by_id(bad["categories"])
    assert found["churn_threat"]["evidence"][0]["quote"].endswith("I am going to close my account.")
    assert found["churn_threat"]["evidence"][0]["start"] == pytest.approx(78.36, abs=0.01)
    queued = [f for f in store.flags() if f["call_id"] == "en_bad_inbound_tx"]
    assert queued[0]["flag_id"] == "category:churn_threat" and queued[0]["severity"] == "critical"
    assert cats.categories_by_call(store)["en_good_inbound_tx"] == ["card_not_working"]
    # the search filter reads the stored categories
    assert match_call("category:churn_threat account", bad) and not match_call("category:churn_threat card",
                                                                                store.get("en_good_inbound_tx"))

    # an admin saves a category in the web app: it is evaluated from the next batch on
    cats.save_category(store, config, category_id="hold_request", names={"en": "Asked to wait", "ru": "Ожидание"},
                       query='operator:("wait for one minute" OR "have to wait" OR ждать OR подождать)',
                       severity="medium", author="ada")
    with pytest.raises(ValueError, match="configured category"):
        cats.save_category(store, config, category_id="churn_threat", names={"en": "x"}, query="x", severity=None,
                           author="ada")
    run_batch([_inbox(tmp_path, "night2", "ru_bad_inbound_tx")], store.path, cfg_path, report=True)
    report = (store.reports_dir / "latest.html").read_text(encoding="utf-8")  # the nightly report counts them
    tonight = report.split("Categories tonight (")[1].split("</table>")[0]
    # the report is English: categories by their English names, whatever the call's language
    assert "Asked to wait" in tonight and "hold_request" in tonight and "Churn threat" in tonight
    assert "Ожидание" not in tonight and "Угроза ухода" not in tonight
    ru = store.get("ru_bad_inbound_tx")
    hold = _by_id(ru["categories"])["hold_request"]
    assert hold["source"] == "store" and hold["name"] == "Ожидание"
    assert {e["speaker"] for e in hold["evidence"]} == {"operator"}
    assert any("Ждите до следующей недели" in e["quote"] for e in hold["evidence"])
    assert _by_id(ru["flags"])["category:hold_request"]["severity"] == "medium"
    # the call stored the night before is not re-evaluated by a batch ...
    assert "hold_request" not in {c["id"] for c in store.get("en_bad_inbound_tx")["categories"]}
    # ... `callqa rescore` evaluates it on the stored calls, from their stored transcripts
    from callqa.pipeline.rescore import rescore_store

    done = rescore_store(store.path, cfg_path)
    assert set(done.rescored) == {"en_bad_inbound_tx", "en_good_inbound_tx"} and done.asr_runs == 0
    hold = _by_id(store.get("en_bad_inbound_tx")["categories"])["hold_request"]
    assert hold["source"] == "store" and hold["name"] == "Asked to wait"
    assert hold["evidence"][0]["speaker"] == "operator" and hold["evidence"][0]["start"] == pytest.approx(64.10, abs=0.01)
    assert "wait for one minute" in hold["evidence"][0]["quote"]
    assert "category:hold_request" in _by_id(store.get("en_bad_inbound_tx")["flags"])
    assert _by_id(store.get("en_bad_inbound_tx")["categories"])["churn_threat"]["evidence"]  # still there
    # a saved category is part of the analysis identity: a new analysis, the earlier one kept
    with_hold = store.get("en_bad_inbound_tx")["analysis_id"]
    assert with_hold != bad["analysis_id"]
    assert store.get("en_bad_inbound_tx")["transcript_id"] == bad["transcript_id"]
    earlier = store.analysis(bad["analysis_id"])
    assert earlier is not None and "hold_request" not in {c["id"] for c in earlier["categories"]}
    again = rescore_store(store.path, cfg_path)  # nothing changed since: nothing redone
    assert again.rescored == [] and len(again.unchanged) == 3
    # an analysis with the store's categories merged into the configuration finds it too
    from callqa.pipeline.process import process_call

    with_saved = cats.config_with_saved(config, store)
    redone = process_call(SAMPLES / "en_bad_inbound_tx.json", with_saved).serialize()
    hold = _by_id(redone["categories"])["hold_request"]
    assert hold["source"] == "store" and hold["evidence"][0]["start"] == pytest.approx(64.10, abs=0.01)
    assert redone["analysis_id"] != bad["analysis_id"]  # the categories are part of the analysis
    # deleting the saved category: the next rescore takes it off the calls
    assert cats.delete_category(store, "hold_request", author="ada")
    assert cats.saved_categories(store) == [] and cats.config_with_saved(config, store) is config
    assert set(rescore_store(store.path, cfg_path).rescored) == {"en_bad_inbound_tx", "en_good_inbound_tx",
                                                                  "ru_bad_inbound_tx"}
    assert "hold_request" not in cats.categories_by_call(store)["ru_bad_inbound_tx"]
    assert "category:hold_request" not in _by_id(store.get("ru_bad_inbound_tx")["flags"])
    assert store.get("en_bad_inbound_tx")["analysis_id"] not in (with_hold, None)
    # the search index follows: the deleted category finds no call any more
    from callqa.pipeline.search.index import search

    assert search(store.path, "category:hold_request wait").hits == []


def test_the_operator_scorecard_counts_calls_per_category(user_config):
    from callqa.pipeline.people.reports import build_scorecard, render_scorecard_html
    from callqa.pipeline.process import process_call

    _, config = user_config
    results = [process_call(SAMPLES / f"{s}.json", config).serialize()
               for s in ("en_bad_inbound_tx", "en_good_inbound_tx", "en_difficult_calm_tx")]
    for r in results:
        r["operator_id"] = "op-1"
    card = build_scorecard(results, "op-1", "2024-Q2", config)
    assert card.category_counts["manager_request"] == 2 and card.category_counts["churn_threat"] == 1
    html = render_scorecard_html(card, config, "en")
    assert "Calls per category in the period" in html and "Asks for a manager" in html


def test_counts_per_category():
    results = [{"categories": [{"id": "a"}, {"id": "b"}]}, {"categories": [{"id": "a"}]}, {"categories": []}, {}]
    assert cats.category_counts(results) == {"a": 2, "b": 1}
