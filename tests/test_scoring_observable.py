"""No score from nothing: hand-built transcripts (ru, en) through the real
pipeline (signals + scoring); a competency without observable evidence is null."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callqa.pipeline.process import process_call

MEASURED_ONLY = {"talk_ratio", "speech_rate"}


def _write(tmp_path: Path, name: str, language: str, turns: list[tuple[str, str]]) -> Path:
    out, t = [], 0.5
    for speaker, text in turns:
        words, w0 = [], t
        for w in text.split():
            words.append({"text": w, "start": round(w0, 3), "end": round(w0 + 0.35, 3)})
            w0 += 0.4
        out.append({"speaker": speaker, "start": round(t, 3), "end": round(w0, 3), "text": text, "words": words})
        t = w0 + 0.8
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps({"call_id": name, "language": language, "role": "inbound", "direction": "inbound",
                             "duration_s": round(t, 3), "turns": out}, ensure_ascii=False), encoding="utf-8")
    return p


THREE_WORDS = {
    "ru": [("operator", "Алло."), ("client", "Здравствуйте, подскажите, пожалуйста, какой у меня баланс по карте?"),
           ("operator", "Минуту."), ("client", "Хорошо, жду."), ("operator", "Баланс сто рублей."),
           ("client", "Спасибо, до свидания.")],
    "en": [("operator", "Hello."), ("client", "Hi, could you tell me the balance on my card please?"),
           ("operator", "Minute."), ("client", "Okay, I will wait."), ("operator", "Balance hundred."),
           ("client", "Thanks, goodbye.")],
}


def _scored_without_evidence(result: dict) -> list[str]:
    return [i["id"] for i in result["indicators"]
            if i["score"] is not None and not i["evidence"] and i["id"] not in MEASURED_ONLY]


@pytest.mark.parametrize("language", ["ru", "en"])
def test_an_operator_who_says_three_words_gets_no_score_from_absences(tmp_path, config, language):
    result = process_call(_write(tmp_path, f"{language}_three_words", language, THREE_WORDS[language]),
                          config).serialize()
    comps = {c["id"]: c for c in result["competencies"]}
    # Nothing the operator did shows product knowledge: it is not observable, not 100.
    assert comps["product_knowledge"]["score"] is None
    assert comps["product_knowledge"]["level"] is None
    assert comps["product_knowledge"]["reason"] == "not observable in this call"
    for c in result["competencies"]:
        if c["score"] is None:
            assert c["level"] is None and c.get("reason")
        else:  # a scored competency rests on at least one indicator with evidence
            ind = {i["id"]: i for i in result["indicators"]}
            assert any(ind[iid]["evidence"] and not ind[iid].get("absence") for iid in c["indicators"]), c["id"]
    # absences carry what was checked: the operator's speech span and the count
    ind = {i["id"]: i for i in result["indicators"]}
    for iid in ("no_bare_dont_know", "few_holds", "no_forbidden_phrases"):
        assert ind[iid]["score"] == 1.0 and ind[iid]["absence"]
        (ev,) = ind[iid]["evidence"]
        assert ev["speaker"] == "operator" and ev["end"] > ev["start"] and "0 found" in ev["quote"]
    assert _scored_without_evidence(result) == []
    assert comps["stress_resistance"]["score"] is None  # a calm client: nothing to resist
    scored = [c["score"] for c in result["competencies"] if c["score"] is not None]
    assert scored and sum(scored) / len(scored) < 50  # what is scored is the missing behaviour, seen where expected


DONT_KNOW = {
    "ru": ("Здравствуйте, банк Альфа, меня зовут Анна, чем могу помочь?",
           "Подскажите, почему с карты списали комиссию за обслуживание?",
           "Я не знаю.", "Я не знаю, сейчас уточню и вернусь к вам с ответом.", "Хорошо."),
    "en": ("Hello, Alpha Bank, my name is Anna, how can I help you?",
           "Could you tell me why I was charged a service fee on my card?",
           "I don't know.", "I don't know, let me check and I will come back to you with the answer.", "Okay."),
}


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_bare_dont_know_lowers_scores_once_a_followed_up_one_does_not(tmp_path, config, language):
    greet, ask, bare, follow, ok = DONT_KNOW[language]
    res = {}
    for name, answer in (("bare", bare), ("follow", follow)):
        turns = [("operator", greet), ("client", ask), ("operator", answer), ("client", ok)]
        res[name] = process_call(_write(tmp_path, f"{language}_{name}", language, turns), config).serialize()
    ind = {k: {i["id"]: i for i in r["indicators"]} for k, r in res.items()}
    assert ind["bare"]["no_bare_dont_know"]["value"] == 1 and ind["follow"]["no_bare_dont_know"]["value"] == 0
    comps = {k: {c["id"]: c for c in r["competencies"]} for k, r in res.items()}
    for cid in ("result_orientation", "responsibility", "product_knowledge"):
        b, f = comps["bare"][cid], comps["follow"][cid]
        assert b["score"] is not None, cid
        assert f["score"] is None or f["score"] > b["score"], cid
        # the bare "don't know" counts once per competency: besides no_bare_dont_know only the
        # follow-up's own promise (a commitment, another behaviour) may score differently
        changed = {i for i in b["indicators"] if i not in ("talk_ratio", "speech_rate")
                   and ind["bare"][i]["score"] != ind["follow"].get(i, {}).get("score")}
        assert "no_bare_dont_know" in changed and changed <= {"no_bare_dont_know", "commitment"}, (cid, changed)
