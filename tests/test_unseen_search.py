"""Search a new user tries first (found on unseen calls): a category, a team or a flag on its own.
README lists `category:churn`, `team:north`, `flag:escalation` as filters and says categories are
"searchable (`category:ID`)", but a query of filters alone was refused ("nothing to find", exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callqa.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"

NORTH_RU = {"call_id": "north-ru", "language": "ru", "operator_id": "op-71", "team": "north", "role": "inbound",
            "started_at": "2026-11-20T10:00:00", "turns": [
                {"speaker": "client", "start": 0.2, "end": 5.0, "text": "Алло! Это банк? 😡 Мне срочно нужна помощь."},
                {"speaker": "operator", "start": 5.5, "end": 8.0, "text": "Да. Номер договора назовите."},
                {"speaker": "client", "start": 8.6, "end": 14.0, "text": "Я отменю подписку и закрою счёт в вашем банке."},
                {"speaker": "operator", "start": 14.5, "end": 18.0, "text": "Хорошо, до свидания."}]}
SOUTH_EN = {"call_id": "south-en", "language": "en", "operator_id": "op-72", "team": "south", "role": "inbound",
            "started_at": "2026-11-21T11:00:00", "turns": [
                {"speaker": "operator", "start": 0.0, "end": 3.0, "text": "Hello, how can I help you?"},
                {"speaker": "client", "start": 3.5, "end": 8.0, "text": "My balance looks fine, I just have a question."},
                {"speaker": "operator", "start": 8.5, "end": 11.0, "text": "Sure, go ahead."}]}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import process_call
    from callqa.pipeline.store.db import Store

    root = tmp_path_factory.mktemp("unseen-search")
    config = load_config()
    s = Store(root / "store")
    for data in (NORTH_RU, SOUTH_EN):
        src = root / f"{data['call_id']}.json"
        src.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        s.save(process_call(src, config).serialize())
    return s.path


def _json_search(store: Path, query: str, capsys) -> tuple[int, list[dict]]:
    capsys.readouterr()
    code = main(["search", query, "--store", str(store), "--json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def test_a_category_alone_finds_its_calls_at_the_categorys_evidence(store, capsys):
    from callqa.pipeline.store.db import Store

    churn = next(c for c in Store(store).get("north-ru")["categories"] if c["id"] == "churn_threat")
    code, hits = _json_search(store, "category:churn_threat", capsys)
    assert code == 0, hits
    assert [h["call_id"] for h in hits] == ["north-ru"]
    # the moment is the category's own evidence: where the client threatened to leave
    assert [(h["turn"], h["start"], h["speaker"]) for h in hits] == [
        (e["turn"], e["start"], e["speaker"]) for e in churn["evidence"]]
    assert "закрою счёт" in hits[0]["quote"]


def test_filters_alone_find_the_calls_that_pass_them(store, capsys):
    code, hits = _json_search(store, "team:north", capsys)
    assert code == 0, hits
    assert {h["call_id"] for h in hits} == {"north-ru"}
    assert hits[0]["turn"] == 0 and hits[0]["speaker"] == "client"  # the call opens with the client
    code, hits = _json_search(store, "lang:en team:south,north", capsys)
    assert code == 0 and {h["call_id"] for h in hits} == {"south-en"}
    code, hits = _json_search(store, "team:south category:churn_threat", capsys)
    assert code == 0 and hits == []


def test_not_with_a_filter_lists_the_calls_without_the_word(store, capsys):
    code, hits = _json_search(store, "NOT счёт lang:ru", capsys)
    assert code == 0 and hits == []  # north-ru says "счёт"
    code, hits = _json_search(store, "NOT cancel lang:en", capsys)
    assert code == 0 and {h["call_id"] for h in hits} == {"south-en"}


def test_not_alone_is_still_refused(store, capsys):
    code, err = _json_search(store, "NOT счёт", capsys)
    assert code == 2 and "nothing to find" in err


def test_a_category_of_filters_alone_is_refused_naming_the_key(tmp_path):
    """A category's evidence is the moments it is said: `team:north` alone is no category."""
    import yaml

    from callqa.pipeline.config import load_config
    from callqa.pipeline.errors import ConfigError
    from callqa.pipeline.scoring.categories import category_defs

    cfg = tmp_path / "user.yaml"
    cfg.write_text(yaml.safe_dump({"categories": {"north_calls": {"name": {"en": "North"}, "query": "team:north"}}}),
                   encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        category_defs(load_config(cfg))
    assert "categories.north_calls.query" in str(e.value) and "word" in str(e.value)


def test_a_damaged_search_index_is_built_again_not_an_error(tmp_path, store, capsys):
    """The index is derived from the store: a deleted or garbled index file (a crash, a careless
    clean-up) must not make every search fail until someone deletes STORE/search by hand."""
    import shutil

    from callqa.pipeline.search.index import index_dir

    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    code, before = _json_search(copy, "счёт", capsys)  # builds the index
    assert code == 0 and before
    files = sorted((index_dir(copy) / "index").glob("*.idx"))
    assert files
    files[0].unlink()
    code, after = _json_search(copy, "счёт", capsys)
    assert code == 0, after
    assert after == before
    (index_dir(copy) / "index" / "meta.json").write_text("garbage", encoding="utf-8")
    code, again = _json_search(copy, "team:north", capsys)
    assert code == 0 and {h["call_id"] for h in again} == {"north-ru"}
