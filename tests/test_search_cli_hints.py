"""`callqa search` without hits says which filter value no stored call has (found on calls nobody
here had seen: `team:nrth` or `flag:escalaton` looked exactly like "nothing was said")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CALL = {"call_id": "hint-ru-1", "language": "ru", "operator_id": "op-h1", "team": "North", "role": "inbound",
        "started_at": "2026-11-24T10:05:00",
        "turns": [{"speaker": "operator", "start": 0.0, "end": 2.0, "text": "Да, слушаю."},
                  {"speaker": "client", "start": 2.5, "end": 9.0,
                   "text": "Верните деньги, иначе я позову вашего руководителя и буду жаловаться!"},
                  {"speaker": "operator", "start": 9.5, "end": 12.0, "text": "Не знаю. Это не ко мне."}]}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import process_call
    from callqa.pipeline.store.db import Store

    root = tmp_path_factory.mktemp("hints")
    src = root / "hint-ru-1.json"
    src.write_text(json.dumps(CALL, ensure_ascii=False), encoding="utf-8")
    s = Store(root / "store")
    s.save(process_call(src, load_config()).serialize())
    return s.path


def test_a_filter_value_no_call_has_is_named_with_the_values_there_are(store, capsys):
    from callqa.cli import main

    assert main(["search", "деньги team:nrth flag:escalaton category:refund_requst", "--store", str(store)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "no moments match" in out
    assert "no stored call has team:nrth (teams in the store: north)" in out
    assert "no stored call has flag:escalaton" in out and "escalation" in out
    assert "no stored call has category:refund_requst" in out and "refund_request" in out


def test_no_hint_when_the_filters_exist_and_the_words_are_simply_not_there(store, capsys):
    from callqa.cli import main

    assert main(["search", "тариф team:North flag:escalation category:refund_request", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "no moments match" in out and "no stored call has" not in out
    # and the same filters with a word that is there find the moment
    assert main(["search", "деньги team:north flag:escalation category:refund_request", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "hint-ru-1" in out and "no stored call has" not in out


def test_lower_case_operators_are_pointed_out(store, capsys):
    """`деньги and руководитель` searched the word "and" and found nothing, silently: the operators are upper case."""
    from callqa.cli import main

    assert main(["search", "деньги and руководитель", "--store", str(store)]) == 0
    captured = capsys.readouterr()
    assert "no moments match" in captured.out
    assert "'and' is searched as a word; operators are upper case (AND)" in captured.err
    assert main(["search", 'деньги near/3 верните OR "not and or"', "--store", str(store), "--json"]) == 0
    captured = capsys.readouterr()
    assert "'near/3' is searched as a word" in captured.err and "'not'" not in captured.err  # a phrase is words
    assert captured.out.strip() == "[]"  # --json output stays JSON
    assert main(["search", "деньги AND руководитель", "--store", str(store)]) == 0
    captured = capsys.readouterr()
    assert "hint-ru-1" in captured.out and "searched as a word" not in captured.err


@pytest.mark.parametrize("query", ["(" * 2000 + "деньги" + ")" * 2000, "деньги " + "NOT " * 1000 + "тариф"])
def test_a_query_nested_thousands_deep_is_refused_not_a_traceback(store, capsys, query):
    """2,000 nested ( ) or 1,000 NOTs ended in a RecursionError traceback (the web page answered 500)."""
    from callqa.cli import main

    assert main(["search", query, "--store", str(store)]) == 2
    captured = capsys.readouterr()
    assert "the query nests too deeply" in captured.err and "Traceback" not in captured.err
    # a reasonable depth still searches
    assert main(["search", "(" * 50 + "деньги" + ")" * 50, "--store", str(store)]) == 0
    assert "hint-ru-1" in capsys.readouterr().out
