"""Glossary terms the ASR spelled a little differently still count for product knowledge, like
company names; the threshold is company.fuzzy_min (0: exact lemma matches only)."""

from __future__ import annotations

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.types import Transcript, Turn

GLOSSARY = {"ru": ["кешбэк", "кредитная карта", "овердрафт", "СБП"],
            "en": ["cashback", "credit card", "overdraft", "PIN"]}


def glossary_hits(text: str, lang: str, cfg, speaker: str = "operator") -> list[str]:
    tr = Transcript(turns=(Turn(speaker, 0.0, 4.0, text), Turn("client", 4.5, 6.0, "Угу." if lang == "ru" else "Okay.")),
                    language=lang, duration_s=6.0)
    return [e["id"] for e in compute_signals(tr, cfg).serialize()["phrases"]["glossary"]]


@pytest.mark.parametrize("lang, mangled, want, unrelated", [
    ("ru", "У вас подключён кэшбек, кэш бэк приходит раз в месяц, а овердрафта нет.",
     ["кешбэк", "кешбэк", "овердрафт"], "Кошелёк, кеш, бэк, кредит, рабочий день, оверлей, СПБ."),
    ("en", "Your cash back is on the credit cart, there is no overdraf.",
     ["cashback", "credit card", "overdraft"], "Cash flow, the crediting, overdue, a cart, pen."),
])
def test_asr_mangled_glossary_terms_count_unrelated_words_do_not(lang, mangled, want, unrelated):
    cfg = load_config(overrides={"company": {"glossary": GLOSSARY}})
    assert glossary_hits(mangled, lang, cfg) == want
    assert glossary_hits(unrelated, lang, cfg) == []  # short terms ("СБП", "PIN") match exactly only
    assert glossary_hits(mangled, lang, cfg, speaker="client") == []  # the operator's knowledge, not the client's
    exact = load_config(overrides={"company": {"glossary": GLOSSARY, "fuzzy_min": 0}})
    assert len(glossary_hits(mangled, lang, exact)) < len(want)


def test_fuzzy_min_governs_company_names_too():
    text = "Good morning, Nortwind, my name is Anna, how can I help you?"

    def greeting_found(fuzzy_min: float) -> bool:
        cfg = load_config(overrides={"company": {"names": ["Northwind Bank"], "fuzzy_min": fuzzy_min}})
        tr = Transcript(turns=(Turn("operator", 0.0, 5.0, text), Turn("client", 5.5, 7.0, "Hello.")),
                        language="en", duration_s=7.0)
        stages = compute_signals(tr, cfg).serialize()["script"]["stages"]
        return next(s for s in stages if s["id"] == "greeting")["found"]

    assert greeting_found(85) and not greeting_found(0) and not greeting_found(99)


def test_fuzzy_min_is_validated():
    from callqa.pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="fuzzy_min"):
        load_config(overrides={"company": {"fuzzy_min": 150}})
