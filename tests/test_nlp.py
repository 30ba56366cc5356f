"""Language processing: Russian lemmas from pymorphy3's top parse, English lookup lemmas, tokens kept whole."""

from __future__ import annotations

import pytest

from callqa.pipeline.signals import nlp


@pytest.mark.parametrize("word, lemma", [
    ("поможем", "помочь"), ("Поможем", "помочь"), ("руководителя", "руководитель"), ("жалобу", "жалоба"),
    ("поняла", "понять"), ("понимаю", "понимать"), ("уточню", "уточнить"), ("Всё", "все"), ("заявки", "заявка"),
])
def test_russian_lemmas_take_pymorphy_top_parse(word, lemma):
    assert nlp.lemma(word, "ru") == lemma


@pytest.mark.parametrize("word, lemma", [
    ("calling", "call"), ("managers", "manager"), ("transferred", "transfer"), ("understood", "understand"),
    ("Helping", "help"), ("n't", "not"), ("'re", "be"), ("'ll", "will"),
])
def test_english_lookup_lemmas(word, lemma):
    assert nlp.lemma(word, "en") == lemma


def test_tokens_keep_hyphenated_words_and_redaction_tags_whole():
    ru = [t.text for t in nlp.analyze("Ну, э-э, по-моему номер [NUMBER].", "ru") if t.is_word]
    assert ru == ["Ну", "э-э", "по-моему", "номер", "[NUMBER]"]
    en = [t.lemma for t in nlp.analyze("I don't know, ticket [PHONE]", "en") if t.is_word]
    assert en == ["i", "do", "not", "know", "ticket", "[phone]"]


def test_offsets_point_into_the_text():
    text = "Здравствуйте!  Чем могу помочь?"
    for t in nlp.analyze(text, "ru"):
        assert text[t.idx:t.idx + len(t.text)] == t.text
    many = nlp.tokenize_many(["Добрый день.", "Слушаю вас", ""], "ru")
    assert [w for w, _, _ in many[1]] == ["Слушаю", "вас"] and many[1][0][1] == 0 and many[2] == []


def test_pipelines_load_once_and_lemmas_are_cached():
    assert nlp.load_spacy("ru") is nlp.load_spacy("ru")
    assert nlp.load_morph() is nlp.load_morph()
    nlp.lemma("позовите", "ru")
    hits = nlp.lemma.cache_info().hits
    nlp.lemma("позовите", "ru")
    assert nlp.lemma.cache_info().hits == hits + 1
    with pytest.raises(ValueError, match="supported"):
        nlp.load_spacy("de")
