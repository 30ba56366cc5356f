"""Call reasons without rules (issue 13): topics discovered over the clients' lemmas (TF-IDF +
seeded k-means per language), named by their top terms, with example calls; the same calls give
the same topics; a store's model is kept and made again when the stored analyses change."""

from __future__ import annotations

import random

import pytest

from callqa.pipeline.search.topics import TopicOptions, client_lemmas, discover_topics, topics_for_store

THEMES = {
    "ru": {
        "card": ["у меня заблокировали карту", "карта не работает в магазине", "оплата картой отклонена",
                 "терминал не принимает карту", "карту заблокировали после покупки"],
        "refund": ["верните деньги за заказ", "деньги списали дважды", "хочу возврат денег",
                   "когда вернут деньги", "списание было ошибочным, верните деньги"],
        "tariff": ["хочу сменить тариф", "тариф слишком дорогой", "какой тариф дешевле",
                   "абонентская плата по тарифу выросла", "подключите другой тариф"],
    },
    "en": {
        "card": ["my card is blocked", "the card does not work in the shop", "the card payment was declined",
                 "the terminal rejected my card", "you blocked my card after a purchase"],
        "refund": ["I want my money back", "you charged me twice, refund the money", "when will the refund arrive",
                   "the charge was a mistake, return my money", "I need a refund for the order"],
        "tariff": ["I want to change my plan", "the plan is too expensive", "which plan is cheaper",
                   "the monthly fee of my plan went up", "switch me to another plan"],
    },
}
# what operators say is not a call reason: the same words in every call
OPERATOR = {"ru": "Здравствуйте, банк слушает, чем могу помочь? Тариф, карта, деньги — всё решим.",
            "en": "Hello, the bank is listening, how can I help? Plan, card, money, we solve it all."}


def make_calls(per_theme: int = 6, seed: int = 3) -> dict[str, dict]:
    rng = random.Random(seed)
    calls = {}
    for lang, themes in THEMES.items():
        for theme, lines in themes.items():
            for i in range(per_theme):
                cid = f"{lang}-{theme}-{i}"
                said = rng.sample(lines, 3)
                turns = [{"speaker": "operator", "start": 0.0, "end": 4.0, "text": OPERATOR[lang]}]
                for j, text in enumerate(said):
                    turns.append({"speaker": "client", "start": 5.0 + 10 * j, "end": 9.0 + 10 * j,
                                  "text": text + (". Спасибо." if lang == "ru" else ". Thank you.")})
                calls[cid] = {"call_id": cid, "language": lang, "duration_s": 40.0, "team": "blue",
                              "operator_id": "op-1", "started_at": f"2026-11-0{1 + i % 5}T10:00:00",
                              "analysis_id": f"a-{cid}", "transcript": {"turns": turns}, "flags": [],
                              "categories": []}
    return calls


def docs_of(calls):
    docs = {cid: (c["language"], client_lemmas(c)) for cid, c in calls.items()}
    quotes = {cid: [t for t in c["transcript"]["turns"] if t["speaker"] == "client"] for cid, c in calls.items()}
    return docs, quotes


def test_topics_recover_the_call_reasons_per_language_named_by_their_words():
    calls = make_calls()
    docs, quotes = docs_of(calls)
    assert "здравствуйте" not in docs["ru-card-0"][1] and "тариф" not in docs["ru-card-0"][1]  # client words only
    model = discover_topics(docs, TopicOptions(n_topics=3), quotes)
    assert sorted(t.id for t in model.topics) == ["en-1", "en-2", "en-3", "ru-1", "ru-2", "ru-3"]
    by_theme: dict[tuple[str, str], set[str]] = {}
    for cid, tid in model.assignments.items():
        lang, theme, _ = cid.split("-")
        by_theme.setdefault((lang, theme), set()).add(tid)
    # every reason is one topic, and no two reasons share one
    assert all(len(t) == 1 for t in by_theme.values()), by_theme
    assert len({next(iter(t)) for t in by_theme.values()}) == 6
    named = {next(iter(by_theme[(lang, theme)])): (lang, theme) for lang, theme in by_theme}
    expect = {("ru", "card"): "карт", ("ru", "refund"): "вернут", ("ru", "tariff"): "тариф",
              ("en", "card"): "card", ("en", "refund"): "refund", ("en", "tariff"): "plan"}
    for topic in model.topics:
        lang, theme = named[topic.id]
        assert topic.language == lang and topic.size == 6
        assert any(expect[(lang, theme)] in w for w in topic.words[:3]) or \
            any(expect[(lang, theme)] in w for w in topic.terms[:3]), (theme, topic.terms, topic.words)
        assert len(topic.examples) == 3
        for ex in topic.examples:  # example calls of the topic, each with the client's words that show it
            assert model.assignments[ex.call_id] == topic.id
            assert ex.quote and ex.start is not None and ex.start >= 5.0
    tariff = next(t for t in model.topics if named[t.id] == ("ru", "tariff"))
    assert tariff.name.split(", ")[0] == "тариф"  # named as clients say it


def test_the_same_calls_give_the_same_topics():
    docs, quotes = docs_of(make_calls())
    a = discover_topics(docs, TopicOptions(n_topics=3, seed=7), quotes)
    b = discover_topics(dict(reversed(list(docs.items()))), TopicOptions(n_topics=3, seed=7), quotes)
    assert a.serialize() == b.serialize()


def test_too_few_calls_in_a_language_make_no_topics():
    calls = {k: v for k, v in make_calls().items() if k.startswith("en-") or k in ("ru-card-0", "ru-tariff-0")}
    model = discover_topics(*docs_of(calls)[:1], TopicOptions(n_topics=3))
    assert {t.language for t in model.topics} == {"en"}
    assert not [c for c in model.assignments if c.startswith("ru-")]


def test_a_store_keeps_its_topics_until_its_analyses_change(tmp_path):
    from callqa.pipeline.store.db import Store

    store = Store(tmp_path / "store")
    calls = make_calls(per_theme=5)
    for c in calls.values():
        store.save(c)
    model = topics_for_store(store, {"n_topics": 3})
    assert len(model.topics) == 6 and len(model.assignments) == len(calls)
    path = store.path / "topics.json"
    stamp = path.stat().st_mtime_ns
    again = topics_for_store(store, {"n_topics": 3})
    assert again.serialize() == model.serialize() and path.stat().st_mtime_ns == stamp  # read back, not redone
    extra = make_calls(per_theme=6)["en-card-5"]
    store.save(extra)
    # a big store's page shows the kept model rather than wait for the clustering ...
    assert topics_for_store(store, {"n_topics": 3}, stale_above=10).fingerprint == model.fingerprint
    redone = topics_for_store(store, {"n_topics": 3})  # ... which the nightly batch makes again
    assert redone.fingerprint != model.fingerprint
    assert redone.assignments["en-card-5"] == redone.assignments["en-card-0"]


@pytest.mark.parametrize("per_theme", [4])
def test_topics_tolerate_calls_without_client_words(per_theme):
    calls = make_calls(per_theme=per_theme)
    calls["en-silent"] = {**calls["en-card-0"], "call_id": "en-silent",
                          "transcript": {"turns": [{"speaker": "operator", "start": 0, "end": 2, "text": "Hello?"}]}}
    docs, quotes = docs_of(calls)
    model = discover_topics(docs, TopicOptions(n_topics=3), quotes)
    assert "en-silent" not in model.assignments and len(model.assignments) == len(calls) - 1
