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
