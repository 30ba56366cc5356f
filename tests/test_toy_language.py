"""A third language from configuration alone (issue 12, "languages as data").

The project's configs/ is copied to a temporary folder and a toy language "xx" is
added there only: an entry in languages.yaml, a lexicon, a script, role cues, UI
strings, labels in the competency map and actions in the development plans. A
transcript in xx then goes through roles, signals, scores, the web call page and
the operator scorecard with no code changed.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from callqa.pipeline.config import default_config_dir, load_config

PASSWORD = "toy-language-42"

# A made-up language written in Latin letters: "zdrava" hello, "kama vosh plezo" how can I help,
# "umbo" / "ehm" fillers, "danko" thanks, "bayo" goodbye.
XX_LEXICON = {
    "tokens": {"vowels": "aeiou", "syllables": "vowel_groups", "backchannels": ["mhm"]},
    "fillers": {"match": "form", "entries": ["umbo", "ehm"]},
    "politeness": {"entries": ["danko", "plezo"]},
    "empathy": {"entries": ["mi dolora"]},
    "escalation": {"speaker": "client", "entries": ["donu sefo"]},
    "forbidden": {"entries": ["ne mia problemo"]},
    **{cat: {} for cat in ("conflict", "greeting", "company_generic", "own_name", "client_intro", "name_request",
                           "address_forms", "paraphrase", "commitment", "resolution", "further_help",
                           "client_confirms", "hold_transfer", "open_question", "closed_question",
                           "question_exclude")},
    "sentiment": {"positive": {"bono": 2.0, "danko": 1.5}, "negative": {"malo": 2.0}, "negations": ["ne"]},
}
XX_SCRIPT = {
    "id": "xx-inbound",
    "description": "Toy inbound script",
    "stages": [
        {"id": "greeting", "window": {"anchor": "start", "within_s": 20}, "patterns": ["zdrava"]},
        {"id": "offer_help", "window": {"anchor": "start", "within_s": 45}, "patterns": ["kama vosh plezo"]},
        {"id": "farewell", "window": {"anchor": "end", "within_s": 20}, "patterns": ["bayo"]},
    ],
}
XX_UI = {  # only some strings: the rest falls back to English
    "call": {"title": "Vokalo {call_id}", "transcript": "Transkripto", "signals": "Signaloj",
             "speaker_operator": "Operatoro", "speaker_client": "Kliento"},
    "signals": {"fillers": "Plenvortoj (kvanto / po 100 vortoj)", "script": "Skripto", "stage_found": "trovita",
                "stage_missing": "mankas"},
    "report": {"scorecard": {"title": "Kompetenca karto", "plan": "Disvolva plano", "actions": "Agoj"}},
}
TRANSCRIPT = {
    "call_id": "toy-1", "language": "xx", "operator_id": "op-x", "role": "inbound", "team": "blue",
    "direction": "inbound", "started_at": "2026-11-03T10:00:00",
    "turns": [  # diarization labels: the roles come from the xx role cues
        {"speaker": "SPEAKER_00", "start": 0.5, "end": 4.0, "text": "Zdrava, umbo, kama vosh plezo?"},
        {"speaker": "SPEAKER_01", "start": 4.5, "end": 9.0, "text": "Mia karto estas blokita, malo malo."},
        {"speaker": "SPEAKER_00", "start": 9.5, "end": 15.0, "text": "Mi dolora. Ehm, mi malblokis la karto."},
        {"speaker": "SPEAKER_01", "start": 15.5, "end": 18.0, "text": "Bono, danko!"},
        {"speaker": "SPEAKER_00", "start": 18.5, "end": 21.0, "text": "Danko, bayo."},
    ],
}


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def toy_configs(tmp_path_factory) -> Path:
    """configs/ copied, with the language xx added by configuration files only."""
    root = tmp_path_factory.mktemp("toy") / "configs"
    shutil.copytree(default_config_dir(), root)
    _edit(root / "languages.yaml", lambda d: d["known"].update(
        xx={"name": "Ludlingvo", "tokenizer": "xx", "lemmas": "lowercase", "letters": "abcdefghijklmnopqrstuvwxyz"}))
    _write(root / "lexicons" / "xx.yaml", XX_LEXICON)
    _write(root / "scripts" / "xx" / "inbound.yaml", XX_SCRIPT)
    _write(root / "ui" / "xx.yaml", XX_UI)

    def roles(d: dict) -> None:
        d["lexicons"]["greeting"]["xx"] = ["zdrava"]
        d["lexicons"]["offers_help"]["xx"] = ["kama vosh plezo"]
    _edit(root / "role_assignment.yaml", roles)
    _edit(root / "competency_map.yaml",
          lambda d: d["competencies"]["clear_speech"]["name"].update(xx="Klara parolado"))
    _edit(root / "development.yaml",
          lambda d: d["actions"]["result_orientation"].update(xx=["Fine demandu: cu via problemo estas solvita?"]))
    return root


@pytest.fixture(scope="module")
def toy(toy_configs, tmp_path_factory) -> dict[str, Any]:
    from callqa.pipeline.process import process_call

    config = load_config(config_dir=toy_configs)
    src = tmp_path_factory.mktemp("toy-in") / "toy-1.json"
    src.write_text(json.dumps(TRANSCRIPT), encoding="utf-8")
    return {"config": config, "result": process_call(src, config).serialize()}


def test_the_project_configuration_is_untouched(toy_configs):
    config = load_config()
    assert "xx" not in config.section("languages").known and "xx" not in config.get("lexicons")
    assert "xx" in load_config(config_dir=toy_configs).section("languages").known


def test_signals_and_scores_of_a_call_in_the_toy_language(toy):
    res = toy["result"]
    assert res["language"] == "xx"
    assert res["transcript"]["turns"][0]["speaker"] == "operator"  # the xx greeting told the roles apart
    sig = res["signals"]
    stages = {s["id"]: s for s in sig["script"]["stages"]}
    assert stages["greeting"]["found"] and stages["greeting"]["quote"].lower() == "zdrava"
    assert stages["offer_help"]["found"] and stages["farewell"]["found"]
    assert sig["script"]["compliance"] == pytest.approx(1.0)
    assert sig["filler_words"]["count"] == 2  # "umbo", "ehm": the operator's only
    assert sorted(i["text"].lower() for i in sig["filler_words"]["items"]) == ["ehm", "umbo"]
    assert sig["sentiment"]["client_end"] > sig["sentiment"]["client_start"]  # "malo malo" -> "bono, danko"
    assert res["models"]["nlp"].endswith("-xx+lowercase")
    comps = {c["id"]: c for c in res["competencies"]}
    assert comps["script_compliance"]["score"] == pytest.approx(100.0)
    assert not any("not configured" in w for w in res["processing"].get("warnings", []))


def test_an_unknown_language_is_named_and_analysed_by_its_letters(toy_configs, tmp_path):
    from callqa.pipeline.errors import InputError
    from callqa.pipeline.process import process_call

    src = tmp_path / "de-1.json"
    src.write_text(json.dumps({**TRANSCRIPT, "call_id": "de-1", "language": "de"}), encoding="utf-8")
    res = process_call(src, load_config()).serialize()  # the project's configuration: ru, en
    warning = next(w for w in res["processing"]["warnings"] if "'de'" in w)
    assert "de-1" in warning and "analysed as 'en'" in warning
    strict = load_config(overrides={"languages": {"unknown": "error"}})
    with pytest.raises(InputError, match=r"de-1: language 'de' is not configured"):
        process_call(src, strict)


def test_a_language_without_a_lexicon_fails_at_load_naming_it(toy_configs, tmp_path):
    from callqa.pipeline.errors import ConfigError

    broken = tmp_path / "configs"
    shutil.copytree(toy_configs, broken)
    (broken / "lexicons" / "xx.yaml").unlink()
    with pytest.raises(ConfigError, match=r"languages\.known\.xx: no lexicon for 'xx'"):
        load_config(config_dir=broken)


def _login(app) -> Any:
    from fastapi.testclient import TestClient

    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    return client


def test_the_call_page_in_the_toy_language(toy, tmp_path):
    pytest.importorskip("fastapi")
    from callqa.pipeline.store.db import Store
    from callqa.users import UserDB
    from callqa.web import create_app

    store = Store(tmp_path / "store")
    store.save(toy["result"])
    UserDB(store.path).add("ada", "admin", PASSWORD)
    client = _login(create_app(store.path, toy["config"]))
    page = client.get("/calls/toy-1?lang=xx")
    assert page.status_code == 200
    html = page.text
    assert '<html lang="xx"' in html
    assert "Vokalo toy-1" in html and "Transkripto" in html and "Signaloj" in html
    assert "Operatoro" in html and "Kliento" in html
    assert re.search(r"Plenvortoj \(kvanto / po 100 vortoj\)</th><td>2\b", html)
    assert re.search(r"greeting:\s*trovita", html) and "<q>Zdrava</q>" in html
    assert "Klara parolado" in html  # the competency's xx label
    assert "Needs discovery" in html  # labels xx does not have: English
    assert 'hreflang="xx"' in html  # offered in the language switch
    again = client.get("/calls/toy-1").text  # the cookie keeps xx
    assert '<html lang="xx"' in again and "Vokalo toy-1" in again
    assert "Звонок toy-1" in client.get("/calls/toy-1?lang=ru").text


def test_the_scorecard_and_plan_in_the_toy_language(toy):
    from callqa.pipeline.people.reports import build_scorecard, render_scorecard_html

    config = toy["config"]
    res = toy["result"]
    card = build_scorecard([res], "op-x", "2026-11", config)
    html = render_scorecard_html(card, config, "xx")
    assert "<title>Kompetenca karto" in html and '<html lang="xx">' in html
    plan = {i.competency: i for i in card.plan.items}
    assert plan["result_orientation"].actions["xx"] == ["Fine demandu: cu via problemo estas solvita?"]
    assert "Fine demandu: cu via problemo estas solvita?" in html and "Disvolva plano" in html
    assert plan["problem_analysis"].actions["xx"] == plan["problem_analysis"].actions["en"]  # none in xx: English


def test_a_customer_file_adds_the_language_to_callqa_analyze(tmp_path, capsys):
    """The same language from one `--config` file over the project's defaults (CONTRACTS.md)."""
    from callqa.cli import main

    customer = tmp_path / "customer.yaml"
    _write(customer, {
        "languages": {"known": {"xx": {"name": "Ludlingvo", "tokenizer": "xx", "lemmas": "lowercase",
                                       "letters": "abcdefghijklmnopqrstuvwxyz"}}},
        "lexicons": {"xx": XX_LEXICON},
        "scripts": {"xx": {"inbound": XX_SCRIPT}},
    })
    src = tmp_path / "toy-2.json"
    turns = [{**t, "speaker": "operator" if t["speaker"] == "SPEAKER_00" else "client"} for t in TRANSCRIPT["turns"]]
    src.write_text(json.dumps({**TRANSCRIPT, "call_id": "toy-2", "turns": turns}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--config", str(customer)]) == 0
    res = json.loads((out / "toy-2.json").read_text(encoding="utf-8"))
    assert res["language"] == "xx" and res["signals"]["filler_words"]["count"] == 2
    assert [s["id"] for s in res["signals"]["script"]["stages"] if s["found"]] == ["greeting", "offer_help", "farewell"]
