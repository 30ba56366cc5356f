"""One behaviour counts once per competency (issue 10): a bare "не знаю" is a forbidden phrase and a
bare "don't know"; in a competency that weighs both indicators it lowers the score once. Hand-built
transcripts (ru, en) through the real pipeline, with the map extended in a customer config."""

from __future__ import annotations

import pytest
from test_difficulty import run

from callqa.pipeline.config import load_config

CALLS = {
    "ru": [("operator", "Здравствуйте, банк Альфа, меня зовут Анна, чем могу помочь?"),
           ("client", "Подскажите, почему с карты списали комиссию за обслуживание?"),
           ("operator", "Я не знаю."), ("client", "Хорошо.")],
    "en": [("operator", "Hello, Alpha Bank, my name is Anna, how can I help you?"),
           ("client", "Could you tell me why I was charged a service fee on my card?"),
           ("operator", "I don't know."), ("client", "Okay.")],
}
RUDE = {"ru": "Успокойтесь, я не знаю.", "en": "Calm down, I don't know."}


@pytest.fixture()
def both_in_one(tmp_path):
    user = tmp_path / "customer.yaml"
    user.write_text("competency_map:\n  competencies:\n    responsibility:\n"
                    "      indicators: {no_forbidden_phrases: 1}\n", encoding="utf-8")
    return load_config(user)


def _weighted(comp: dict, ind: dict, cfg, overrides: dict) -> float:
    w = cfg.section("competency_map").competencies["responsibility"].indicators
    used = comp["indicators"]
    s = {i: overrides.get(i, ind[i]["score"]) for i in used}
    return 100 * sum(s[i] * w[i] for i in used) / sum(w[i] for i in used)


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_bare_dont_know_lowers_a_competency_once(tmp_path, both_in_one, language):
    res = run(tmp_path, f"{language}_once", language, CALLS[language], both_in_one)
    ind = {i["id"]: i for i in res["indicators"]}
    # the call-level indicators still report what happened: one forbidden phrase, one bare "don't know"
    assert ind["no_forbidden_phrases"]["value"] == 1 and ind["no_bare_dont_know"]["value"] == 1
    comp = {c["id"]: c for c in res["competencies"]}["responsibility"]
    assert {"no_forbidden_phrases", "no_bare_dont_know"} <= set(comp["indicators"])
    # ... but responsibility counts the phrase once: no_bare_dont_know (listed first at equal weight) has it
    assert comp["counted_once"] == {"no_forbidden_phrases": 1}
    once = _weighted(comp, ind, both_in_one, {"no_forbidden_phrases": 1.0})
    twice = _weighted(comp, ind, both_in_one, {})
    assert comp["score"] == pytest.approx(once, abs=0.01) and twice < once - 5
    # other competencies are untouched by the extension
    assert "counted_once" not in {c["id"]: c for c in res["competencies"]}["result_orientation"]


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_different_fault_still_counts(tmp_path, both_in_one, language):
    turns = CALLS[language][:2] + [("operator", RUDE[language]), CALLS[language][3]]
    res = run(tmp_path, f"{language}_two", language, turns, both_in_one)
    ind = {i["id"]: i for i in res["indicators"]}
    assert ind["no_forbidden_phrases"]["value"] == 2  # "calm down" and the bare "don't know"
    comp = {c["id"]: c for c in res["competencies"]}["responsibility"]
    assert comp["counted_once"] == {"no_forbidden_phrases": 1}  # only the "don't know" is taken out
    spec = both_in_one.section("indicators").items["no_forbidden_phrases"]
    once = _weighted(comp, ind, both_in_one, {"no_forbidden_phrases": spec.scale.score(1.0)})
    assert comp["score"] == pytest.approx(once, abs=0.01)


def test_the_shipped_map_counts_nothing_twice(tmp_path, config):
    for language, turns in CALLS.items():
        res = run(tmp_path, f"{language}_shipped", language, turns, config)
        assert all("counted_once" not in c for c in res["competencies"]), language
