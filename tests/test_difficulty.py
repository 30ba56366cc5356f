"""Difficult calls a QA lead agrees with (issue 10): hand-built transcripts (ru, en) through the real
pipeline. A routine complaint is not difficult; an angry client (insults, exclamations, threats to
complain, repeated complaints) is, and the result says why. Emotion words, insults, sarcasm and
exclamations move the sentiment; topic words do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.process import process_call
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.types import Transcript, Turn


def write_call(tmp_path: Path, name: str, language: str, turns: list[tuple[str, str]]) -> Path:
    """A transcript JSON input: word times proportional to word length (about 14 characters a second,
    so Russian and English speak at a similar, ordinary rate), 0.8 s between turns."""
    out, t = [], 0.5
    for speaker, text in turns:
        words, w0 = [], t
        for w in text.split():
            d = 0.12 + 0.055 * len(w)
            words.append({"text": w, "start": round(w0, 3), "end": round(w0 + d, 3)})
            w0 += d + 0.08
        out.append({"speaker": speaker, "start": round(t, 3), "end": round(w0, 3), "text": text, "words": words})
        t = w0 + 0.8
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps({"call_id": name, "language": language, "role": "inbound", "direction": "inbound",
                             "duration_s": round(t + 0.5, 3), "turns": out}, ensure_ascii=False), encoding="utf-8")
    return p


def run(tmp_path: Path, name: str, language: str, turns: list[tuple[str, str]], config=None) -> dict:
    return process_call(write_call(tmp_path, name, language, turns), config or load_config()).serialize()


def reasons(result: dict) -> set[str]:
    d = result["difficulty"]
    assert d["difficult"] is result["difficult"]
    return {r["id"] for r in d["reasons"]}


# The same operator in both calls; only the client differs.
ROUTINE = {
    "ru": [("operator", "Здравствуйте, банк Альфа, меня зовут Анна, чем могу помочь?"),
           ("client", "Здравствуйте, у меня проблема с картой, не проходит оплата в магазине."),
           ("operator", "Подскажите, пожалуйста, какая ошибка появляется на терминале?"),
           ("client", "Пишет, что операция отклонена, ошибка какая-то."),
           ("operator", "Вижу, карта заблокирована после трёх неверных вводов пин-кода. Я её разблокировала."),
           ("client", "Хорошо, спасибо."),
           ("operator", "Могу ещё чем-то помочь?"), ("client", "Нет, спасибо, до свидания.")],
    "en": [("operator", "Hello, Alpha Bank, my name is Anna, how can I help you?"),
           ("client", "Hello, I have a problem with my card, the payment in the shop does not go through."),
           ("operator", "Could you tell me what error you see on the terminal?"),
           ("client", "It says the transaction is declined, some error."),
           ("operator", "I see, the card was blocked after three wrong PIN entries. I have unblocked it."),
           ("client", "Okay, thank you."),
           ("operator", "Is there anything else I can help you with?"), ("client", "No, thanks, goodbye.")],
}
ANGRY_CLIENT = {
    "ru": ["Это просто безобразие! Третий раз звоню, карта опять не работает, вы что там все идиоты?!",
           "Да какая разница! В магазине не проходит оплата, пишет отказ. Сколько можно!",
           "Да, вчера вечером и сегодня утром.",
           "Я буду жаловаться в Центробанк, если это не прекратится!",
           "Ну ладно, посмотрим."],
    "en": ["This is ridiculous! It is the third time I am calling, my card is not working again, are you all idiots?!",
           "Who cares! The payment in the shop does not go through, it says declined. How many times!",
           "Yes, last night and this morning.",
           "I will file a complaint with the ombudsman if this goes on!",
           "Well, okay, we will see."],
}


def angry_call(language: str) -> list[tuple[str, str]]:
    ops = [t for s, t in ROUTINE[language] if s == "operator"]
    c = ANGRY_CLIENT[language]
    return [("operator", ops[0]), ("client", c[0]), ("operator", ops[1]), ("client", c[1]),
            ("operator", ops[2]), ("client", c[3]), ("operator", ops[3]), ("client", c[4])]


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_routine_complaint_is_not_difficult_an_angry_client_is(tmp_path, config, language):
    routine = run(tmp_path, "routine", language, ROUTINE[language], config)
    angry = run(tmp_path, "angry", language, angry_call(language), config)
    # naming a problem ("проблема с картой", "some error") is what the call is about, not how the client feels
    assert routine["difficult"] is False and routine["difficulty"]["reasons"] == []
    assert routine["signals"]["sentiment"]["client_start"] >= 0
    by_id = {c["id"]: c for c in routine["competencies"]}
    assert by_id["stress_resistance"]["score"] is None  # nothing to resist in a routine call
    # the angry client: every reason is recorded, with where it was heard
    assert angry["difficult"] is True
    assert reasons(angry) >= {"escalation", "negative_emotion", "repeated_complaints"}
    for r in angry["difficulty"]["reasons"]:
        assert r["evidence"] and all(e["speaker"] == "client" for e in r["evidence"]), r
    rep = next(r for r in angry["difficulty"]["reasons"] if r["id"] == "repeated_complaints")
    assert rep["count"] >= rep["min"] == 2
    assert {c["id"]: c for c in angry["competencies"]}["stress_resistance"]["score"] is not None


@pytest.mark.parametrize("language", ["ru", "en"])
def test_anger_without_a_threat_is_difficult_and_each_threshold_is_configured(tmp_path, config, language):
    # insults and exclamations, no manager, no complaint: negative emotion and repeated complaints
    turns = [x for x in angry_call(language) if x[1] != ANGRY_CLIENT[language][3]]
    res = run(tmp_path, "insults", language, turns, config)
    assert res["signals"]["escalations"] == []
    assert res["difficult"] is True and reasons(res) == {"negative_emotion", "repeated_complaints"}
    # each reason has its own threshold: switched off one by one, the call stops being difficult
    off = {"emotion_below": -1.0, "client_start_below": -1.0}
    assert reasons(run(tmp_path, "insults_a", language, turns,
                       load_config(overrides={"indicators": {"difficult": off}}))) == {"repeated_complaints"}
    cfg = load_config(overrides={"indicators": {"difficult": {**off, "repeated_complaints_min": 3}}})
    calm_enough = run(tmp_path, "insults_b", language, turns, cfg)
    assert calm_enough["difficult"] is False and reasons(calm_enough) == set()


MILD = {
    "ru": [("client", "Вас плохо слышно, повторите, пожалуйста."), ("operator", "Минуту, проверяю."),
           ("client", "Долго ещё ждать?"), ("operator", "Уже готово."), ("client", "Опять ждать, ну ладно.")],
    "en": [("client", "It's a bad line, could you repeat that please?"), ("operator", "One moment, I am checking."),
           ("client", "Will it take long?"), ("operator", "It is done."), ("client", "Waiting again, oh well.")],
}


@pytest.mark.parametrize("language", ["ru", "en"])
def test_a_bad_line_and_mild_impatience_are_not_a_difficult_call(tmp_path, config, language):
    res = run(tmp_path, "mild", language, ROUTINE[language][:6] + MILD[language], config)
    client = [p["score"] for p in res["signals"]["sentiment"]["per_turn"] if p["speaker"] == "client"]
    assert client[3] == 0.0  # "плохо слышно" / "bad line" is the connection, not the mood
    assert min(client) > -0.5  # "долго", "опять" are mild: no complaint on their own
    assert res["difficult"] is False and reasons(res) == set()


COMPLAINT_NEGATION = {
    "ru": ("Ладно, не буду жаловаться, просто исправьте.", "Ладно, буду жаловаться, просто исправьте."),
    "en": ("Fine, I won't file a complaint, just fix it.", "Fine, I will file a complaint, just fix it."),
}


@pytest.mark.parametrize("language", ["ru", "en"])
def test_i_will_not_complain_is_no_escalation_i_will_complain_is(tmp_path, config, language):
    no, yes = COMPLAINT_NEGATION[language]
    base = [t for t in ROUTINE[language][:4]]
    calm = run(tmp_path, "wont", language, base + [("client", no)], config)
    threat = run(tmp_path, "will", language, base + [("client", yes)], config)
    assert calm["signals"]["escalations"] == [] and calm["difficult"] is False
    assert [e["id"] for e in threat["signals"]["escalations"]] == ["complaint"]
    assert threat["difficult"] is True and "escalation" in reasons(threat)


def test_a_clients_raised_voice_makes_a_call_difficult():
    from test_indicators import good_call, scored

    cfg = load_config()
    plain = scored(good_call(), cfg)
    assert plain["difficult"] is False
    def with_raised(n: int):
        loud = good_call()
        turns = [i for i, t in enumerate(loud.transcript.turns) if t.speaker == "client"][:n]
        loud.signals["loudness"] = {"operator": 55.0, "client": 62.0, "raised_voice": [
            {"start": loud.transcript.turns[i].start, "end": loud.transcript.turns[i].end, "speaker": "client",
             "quote": loud.transcript.turns[i].text, "turn": i, "level": 80.0} for i in turns]}
        return loud, turns

    one, _ = with_raised(1)
    assert scored(one, cfg)["difficult"] is False  # one loud turn can be the line or the handset
    two, turns = with_raised(2)
    res = scored(two, cfg)
    assert res["difficult"] is True and reasons(res) == {"raised_voice"}
    assert [e["turn"] for e in res["difficulty"]["reasons"][0]["evidence"]] == turns
    strict = load_config(overrides={"indicators": {"difficult": {"raised_voice_min": 1}}})
    assert scored(one, strict)["difficult"] is True
    off = load_config(overrides={"indicators": {"difficult": {"raised_voice_min": 0}}})
    assert scored(two, off)["difficult"] is False


def _score(text: str, lang: str, config, speaker: str = "client") -> float:
    tr = Transcript(turns=(Turn(speaker, 0.0, 3.0, text),), language=lang, duration_s=3.0)
    (turn,) = compute_signals(tr, config).serialize()["sentiment"]["per_turn"]
    return turn["score"]


@pytest.mark.parametrize("language, topic, insult, sarcasm, plain, exclaimed", [
    ("ru", "У меня проблема, ошибка при оплате, долг по карте.", "Вы что, идиоты?", "Ну спасибо за ничего.",
     "Это ужасно.", "Это ужасно!"),
    ("en", "I have a problem, an error with the payment, a debt on the card.", "Are you stupid?",
     "Thanks for nothing.", "This is terrible.", "This is terrible!"),
])
def test_emotion_moves_sentiment_topic_does_not(config, language, topic, insult, sarcasm, plain, exclaimed):
    assert _score(topic, language, config) == 0.0
    assert _score(insult, language, config) < -0.5
    assert _score(sarcasm, language, config) < -0.5  # thanks that are not thanks
    assert _score(exclaimed, language, config) < _score(plain, language, config) < 0
    hello = {"ru": "Алло! Слушаю!", "en": "Hello! Yes!"}[language]
    assert _score(hello, language, config) == 0.0  # an exclamation alone is no emotion


def test_cannot_help_is_negated_help(config):
    assert _score("Ничем не могу помочь.", "ru", config, "operator") < 0 < _score("Могу помочь.", "ru", config,
                                                                                   "operator")


@pytest.mark.parametrize("language, said, denied", [
    ("ru", ["Это не наша проблема.", "Это ваша проблема.", "Сами виноваты.", "Я же вам говорила."],
     ["Я не говорю, что это не наша проблема, давайте разберёмся.", "Это не ваша проблема, мы всё решим.",
      "Вы не сами виноваты.", "Я же вам не говорила такого."]),
    ("en", ["It is not my job.", "That is your problem.", "It is your own fault.", "Calm down."],
     ["I'm not saying it's not my job, let me check.", "That is not your problem, we will fix it.",
      "It isn't your fault.", "I am not telling you to calm down."]),
])
def test_negation_scope_of_forbidden_and_conflict_phrases(config, language, said, denied):
    def hits(text: str) -> list[str]:
        s = compute_signals(Transcript(turns=(Turn("operator", 0.0, 3.0, text),), language=language,
                                       duration_s=3.0), config).serialize()
        return [e["id"] for e in s["forbidden_phrases"] + s["phrases"]["conflict"]]

    for text in said:
        assert len(hits(text)) == 1, text
    for text in denied:  # a negation inside the phrase, or the phrase denied ("I'm not saying ...")
        assert hits(text) == [], text


# The same angry client, two operators: one calm and helpful, one rude.
OPERATORS = {
    "ru": {"calm": ["Здравствуйте, банк Альфа, меня зовут Анна, чем могу помочь?",
                    "Понимаю вас, это действительно неприятно. Давайте разберёмся. Расскажите, пожалуйста, "
                    "что именно происходит при оплате?",
                    "Правильно ли я понимаю, что оплата не проходит в магазине и терминал пишет отказ? "
                    "Когда это случилось впервые?",
                    "Спасибо. Вижу, карта была заблокирована после трёх неверных вводов пин-кода. Я сейчас её "
                    "разблокирую, оплата пройдёт через пять минут.",
                    "Я понимаю ваше недовольство. Я перезвоню вам завтра до полудня, чтобы убедиться, что всё "
                    "работает. Могу ещё чем-то помочь?",
                    "Спасибо за терпение, всего доброго, до свидания."],
           "rude": ["Алло, говорите.",
                    "Успокойтесь! Не кричите на меня. Что у вас?",
                    "Понятно.",
                    "Я же вам уже сказала, это не наша проблема, сами виноваты, три раза неправильно ввели пин-код.",
                    "Жалуйтесь куда хотите, ничем не могу помочь.",
                    "Всё, до свидания."]},
    "en": {"calm": ["Hello, Alpha Bank, my name is Anna, how can I help you?",
                    "I understand how frustrating this is, I am sorry. Let us sort it out. Could you tell me what "
                    "exactly happens when you pay?",
                    "So if I understand correctly, the payment in the shop is declined? When did it first happen?",
                    "Thank you. I see, the card was blocked after three wrong PIN entries. I have unblocked it now, "
                    "the payment will go through in five minutes.",
                    "I understand your frustration. I will call you back by tomorrow noon to make sure it works. "
                    "Is there anything else I can help you with?",
                    "Thank you for your patience, have a nice day, goodbye."],
           "rude": ["Yeah, what.",
                    "Calm down! Do not shout at me. What is it?",
                    "Right.",
                    "I already told you, it is not my problem, it is your own fault, you entered the wrong PIN "
                    "three times.",
                    "Complain wherever you want, there is nothing I can do.",
                    "Bye."]},
}
DELIVERY_ONLY = {"clear_speech"}  # speech rate, fillers, monologue: how it sounds, not what is said


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_same_angry_client_calm_operator_outscores_rude_operator(tmp_path, config, language):
    res = {}
    for kind, ops in OPERATORS[language].items():
        client = ANGRY_CLIENT[language] + [None]
        turns = [x for o, c in zip(ops, client) for x in (("operator", o), ("client", c)) if x[1]]
        res[kind] = run(tmp_path, f"{language}_{kind}", language, turns, config)
    assert res["calm"]["difficult"] is True and res["rude"]["difficult"] is True
    calm = {c["id"]: c["score"] for c in res["calm"]["competencies"]}
    rude = {c["id"]: c["score"] for c in res["rude"]["competencies"]}
    shared = [c for c in calm if calm[c] is not None and rude.get(c) is not None]
    assert {"stress_resistance", "customer_orientation", "responsibility", "script_compliance"} <= set(shared)
    for c in shared:
        if c in DELIVERY_ONLY:  # both speak at the same rate without fillers: rudeness is not unclear speech
            assert calm[c] >= rude[c], (c, calm[c], rude[c])
        else:
            assert calm[c] > rude[c], (c, calm[c], rude[c])
    # the rude operator's phrases are what cost stress resistance, each with its evidence
    ind = {i["id"]: i for i in res["rude"]["indicators"]}
    assert ind["no_conflict_phrases"]["value"] >= 3 and ind["no_conflict_phrases"]["evidence"]
