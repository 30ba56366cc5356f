"""Search and languages as data (issue 13 follow-up of issue 12): a third language added only
in a copied configs/ folder is indexed and searched with its own pipeline (tokenizer, lemmas,
letters of configs/languages.yaml), in a category too; syntax errors have a code and
parameters, with their message in every UI language (English where a language lacks it)."""

from __future__ import annotations

import json
import re
import shutil
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_toy_language import TRANSCRIPT, XX_LEXICON, XX_SCRIPT, XX_UI, _edit, _write

from callqa.pipeline.config import default_config_dir, load_config
from callqa.pipeline.search.query import MESSAGES, QuerySyntaxError, match_call, parse

# the toy language "xx" (tests/test_toy_language.py) with word forms given by configuration:
# "trovis" / "trovas" (found, finds) are forms of "trovi", "kartoj" of "karto"
OVERRIDES = {"trovis": "trovi", "trovas": "trovi", "kartoj": "karto"}
SEARCH_CALL = {
    **TRANSCRIPT, "call_id": "toy-search",
    "turns": [
        {"speaker": "SPEAKER_00", "start": 0.5, "end": 4.0, "text": "Zdrava, kama vosh plezo?"},
        {"speaker": "SPEAKER_01", "start": 4.5, "end": 9.0, "text": "Mi ne Trovas miajn kartoj, malo."},
        {"speaker": "SPEAKER_00", "start": 9.5, "end": 15.0, "text": "Mi dolora. Mi trovis ilin, danko."},
        {"speaker": "SPEAKER_00", "start": 18.5, "end": 21.0, "text": "Danko, bayo."},
    ],
}


@pytest.fixture(scope="module")
def toy_configs(tmp_path_factory) -> Path:
    """configs/ copied, with the language xx (and a category in it) added by files only."""
    root = tmp_path_factory.mktemp("toysearch") / "configs"
    shutil.copytree(default_config_dir(), root)
    _edit(root / "languages.yaml", lambda d: d["known"].update(
        xx={"name": "Ludlingvo", "tokenizer": "xx", "lemmas": "lowercase", "letters": "abcdefghijklmnopqrstuvwxyz",
            "lemma_overrides": OVERRIDES}))
    _write(root / "lexicons" / "xx.yaml", XX_LEXICON)
    _write(root / "scripts" / "xx" / "inbound.yaml", XX_SCRIPT)
    _write(root / "ui" / "xx.yaml", XX_UI)  # no search.errors: English

    def roles(d: dict) -> None:
        d["lexicons"]["greeting"]["xx"] = ["zdrava"]
        d["lexicons"]["offers_help"]["xx"] = ["kama vosh plezo"]
    _edit(root / "role_assignment.yaml", roles)
    _edit(root / "categories.yaml", lambda d: d.update(
        lost_card={"name": {"ru": "Потерянная карта", "en": "Lost card", "xx": "Perdita karto"},
                   "query": "client:(trovi NEAR/3 karto) lang:xx"}))
    return root


@pytest.fixture(scope="module")
def toy(toy_configs, tmp_path_factory) -> dict[str, Any]:
    from callqa.pipeline.process import process_call
    from callqa.pipeline.store.db import Store

    config = load_config(config_dir=toy_configs)
    work = tmp_path_factory.mktemp("toysearch-store")
    src = work / "toy-search.json"
    src.write_text(json.dumps(SEARCH_CALL), encoding="utf-8")
    result = process_call(src, config).serialize()
    store = Store(work / "store")
    store.save(result)
    return {"config": config, "result": result, "store": store.path}


def test_a_call_in_a_language_from_configuration_is_searchable(toy):
    from callqa.pipeline.search.index import search

    config, store = toy["config"], toy["store"]
    assert toy["result"]["language"] == "xx"
    # "trovi" finds its forms "Trovas" (client) and "trovis" (operator), by the xx overrides
    hits = search(store, "trovi", config=config, per_call=None).hits
    assert [h.marked() for h in hits] == ["Mi ne [Trovas] miajn kartoj, malo.", "Mi dolora. Mi [trovis] ilin, danko."]
    assert [h.speaker for h in search(store, "client:trovi", config=config).hits] == ["client"]
    assert [h.marked() for h in search(store, '"trovi kartoj" OR "trovas miajn karto"', config=config).hits] == [
        "Mi ne [Trovas miajn kartoj], malo."]
    assert search(store, "trovi lang:xx", config=config).hits
    assert search(store, "trovi lang:en", config=config).hits == []
    # under the project's own languages (no xx) the call is guessed English and "trovi" is no form of "trovis"
    assert search(store, "trovi").hits == []
    assert [h.marked() for h in search(store, "trovis").hits] == ["Mi dolora. Mi [trovis] ilin, danko."]
    # and back under the toy configuration: the index is rebuilt for its languages
    assert len(search(store, "trovi", config=config, per_call=None).hits) == 2


def test_callqa_search_reads_the_languages_of_a_config_file(toy, tmp_path, capsys):
    from callqa.cli import main

    customer = tmp_path / "customer.yaml"
    _write(customer, {
        "languages": {"known": {"xx": {"name": "Ludlingvo", "tokenizer": "xx", "lemmas": "lowercase",
                                       "letters": "abcdefghijklmnopqrstuvwxyz", "lemma_overrides": OVERRIDES}}},
        "lexicons": {"xx": XX_LEXICON},
        "scripts": {"xx": {"inbound": XX_SCRIPT}},
    })
    store = str(toy["store"])
    assert main(["search", "trovi", "--store", store, "--config", str(customer), "--json", "--all-moments"]) == 0
    assert [h["marked"] for h in json.loads(capsys.readouterr().out)] == [
        "Mi ne [Trovas] miajn kartoj, malo.", "Mi dolora. Mi [trovis] ilin, danko."]
    assert main(["search", "trovi", "--store", store, "--json"]) == 0  # the project's languages: no xx
    assert json.loads(capsys.readouterr().out) == []


def test_a_category_in_the_configured_language(toy):
    cats = {c["id"]: c for c in toy["result"]["categories"]}
    assert "lost_card" in cats and cats["lost_card"]["name"] == "Perdita karto"
    assert [e["quote"] for e in cats["lost_card"]["evidence"]] == ["Mi ne Trovas miajn kartoj, malo."]
    assert match_call("trovi", toy["result"], toy["config"])
    assert not match_call("trovi", toy["result"])  # the project's languages: no xx


def test_a_query_word_is_read_in_every_language_of_its_letters(toy):
    q = parse("trovas", toy["config"])
    assert {lem for lem, _ in q.root.forms} == {"trovi", "trovas"}  # xx: trovi, English: trovas
    assert {lem for lem, _ in parse("trovas lang:xx", toy["config"]).root.forms} == {"trovi"}
    assert {lem for lem, _ in parse("cancelled", toy["config"]).root.forms} == {"cancel", "cancelled"}


# ---------------------------------------------------------------- syntax errors in every language


def _placeholders(text: str) -> set[str]:
    return {f[1] for f in string.Formatter().parse(text) if f[1]}


def test_every_syntax_error_has_a_ru_and_en_message_with_the_same_placeholders():
    for lang in ("ru", "en"):
        errors = yaml.safe_load((default_config_dir() / "ui" / f"{lang}.yaml").read_text(encoding="utf-8"))[
            "search"]["errors"]
        assert set(errors) == set(MESSAGES), lang
        for code, text in errors.items():
            assert _placeholders(text) == _placeholders(MESSAGES[code]), (lang, code)


@pytest.mark.parametrize("query, code, params, ru", [
    ("manager AND (complaint", "unclosed_group", {}, "не закрыта '(': добавьте ')'"),
    ("manager NEAR/0 busy", "near_range", {"max": "100"}, "у NEAR/n расстояние от 1 до 100 слов"),
    ("from:2024-13-01 manager", "filter_date", {"field": "from:", "value": "2024-13-01"},
     "from: ждёт дату в виде ГГГГ-ММ-ДД, а получено '2024-13-01'"),
    ("manager OR", "missing_after_end", {"op": "OR"}, "после OR нужно слово, фраза или (группа), а запрос закончился"),
])
def test_syntax_errors_have_a_code_and_parameters(query, code, params, ru, toy_configs):
    from callqa.web.i18n import UiStrings
    from callqa.web.search_views import syntax_error

    with pytest.raises(QuerySyntaxError) as e:
        parse(query)
    assert e.value.code == code and e.value.params == params
    ui = UiStrings(load_config(config_dir=toy_configs))
    shown = {lang: syntax_error(e.value, lambda key, lang=lang: ui.translate(lang, key)) for lang in ("ru", "en", "xx")}
    assert shown["ru"]["text"] == ru
    assert shown["en"]["text"] == e.value.message == MESSAGES[code].format(**params)
    assert shown["xx"]["text"] == e.value.message  # a language without the strings: English
    assert shown["ru"]["column"] == e.value.position + 1 and shown["ru"]["code"] == code
    assert re.search(r"\(at column \d+\)", str(e.value))  # the CLI's English line
