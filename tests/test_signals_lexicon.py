"""Word signals on hand-built transcripts, Russian and English: filler words (and their traps), forbidden
phrases, escalations, key phrases, questions, client name, glossary; word forms match; evidence is exact."""

from __future__ import annotations

import json

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.types import Transcript, Turn, Word


def call(turns, lang):
    ts = tuple(Turn(s, a, b, text) for s, a, b, text in turns)
    return Transcript(turns=ts, language=lang, duration_s=max(t.end for t in ts))


def op(text, lang):
    return call([("operator", 0.0, 10.0, text), ("client", 10.5, 12.0, "Хорошо." if lang == "ru" else "Okay.")], lang)


def fillers(text, lang, config):
    return [f["text"] for f in compute_signals(op(text, lang), config).serialize()["filler_words"]["items"]]


@pytest.mark.parametrize("text, expected", [
    ("Ну, вот, значит, как бы это самое, в общем, короче, типа нормально.",
     ["ну", "вот", "значит", "как бы", "это самое", "в общем", "короче", "типа"]),
    ("Вот ваш номер заявки.", []),  # "вот" pointing at something
    ("Как бы вы хотели получить карту?", []),  # a question, not a filler
    ("Это значит, что карта заблокирована. Какого типа ваша карта?", []),  # verb "значит", noun "тип"
    ("В общем доступе этого нет, короче чем обычно.", []),
    ("Э-э, ну вот, по-моему, всё.", ["э", "ну", "вот"]),
])
def test_russian_fillers_and_traps(config, text, expected):
    assert fillers(text, "ru", config) == expected


@pytest.mark.parametrize("text, expected", [
    ("Um, so, like, you know, I mean, basically it's, uh, sort of broken.",
     ["um", "like", "you know", "i mean", "basically", "uh", "sort of"]),
    ("I would like to help. I like this plan. It looks like a network issue.", []),
    ("Do you know your account number? You know what, what sort of card is it?", []),
    ("What I mean is the card is blocked. It was, like, blocked twice.", ["like"]),
    # "you know, how can I help" as the ASR writes it, without the comma: a question of its own follows
    ("You know how can I help you today?", ["you know"]),
    ("You know how to reset it. You know how I can help. Do you know how can I pay?", []),
    # "let you know": a promise to tell, said on every other call
    ("I will let you know tomorrow. Just letting you know, the card is blocked.", []),
    # "I mean, it is ..." as the ASR writes it, without the comma: a clause of its own follows
    ("I can see the charge. I mean it is a late payment fee. I mean that was all.", ["i mean", "i mean"]),
    ("I mean it. I mean that he called us. I mean it seriously.", []),
])
def test_english_fillers_and_traps(config, text, expected):
    assert fillers(text, "en", config) == expected


def test_filler_rate_and_evidence_times_come_from_words(config):
    words = (Word("Ну,", 1.0, 1.2), Word("это", 1.3, 1.5), Word("самое,", 1.5, 1.9), Word("карта", 2.0, 2.5),
             Word("готова.", 2.5, 3.0))
    tr = Transcript(turns=(Turn("operator", 1.0, 3.0, "Ну, это самое, карта готова.", words),
                           Turn("client", 3.5, 4.0, "Ну ладно.")), language="ru", duration_s=4.0)
    fw = compute_signals(tr, config).serialize()["filler_words"]
    assert fw["count"] == 2 and fw["per_100_words"] == pytest.approx(40.0)  # client's "ну" is not counted
    assert fw["by_text"] == {"ну": 1, "это самое": 1}
    item = fw["items"][1]
    assert (item["start"], item["end"], item["speaker"], item["quote"]) == (1.3, 1.9, "operator", "это самое")


def test_dont_know_with_a_follow_up_is_not_forbidden(config):
    ru = compute_signals(op("Не знаю, но сейчас уточню. А это не ко мне. Успокойтесь!", "ru"), config).serialize()
    assert [f["id"] for f in ru["forbidden_phrases"]] == ["not_my_job", "calm_down"]
    assert [e["quote"] for e in ru["phrases"]["dont_know_followed"]] == ["Не знаю"]
    bare = compute_signals(op("Я не знаю. Звоните в другой отдел.", "ru"), config).serialize()
    assert [(f["id"], f["quote"]) for f in bare["forbidden_phrases"]] == [("dont_know", "не знаю")]
    en = compute_signals(op("I don't know, but let me check. That's not my department. Calm down, sir.", "en"),
                         config).serialize()
    assert [f["id"] for f in en["forbidden_phrases"]] == ["not_my_job", "calm_down"]
    assert en["phrases"]["dont_know_followed"][0]["quote"] == "I don't know"


def test_forbidden_phrases_count_only_for_the_operator(config):
    tr = call([("operator", 0.0, 3.0, "Добрый день."), ("client", 3.0, 6.0, "Я не знаю, успокойтесь вы.")], "ru")
    assert compute_signals(tr, config).serialize()["forbidden_phrases"] == []


@pytest.mark.parametrize("text, lang, ids", [
    ("Позовите руководителя!", "ru", ["manager"]),
    ("Соедините меня с вашим начальником. Я буду жаловаться.", "ru", ["manager", "complaint"]),
    ("Я напишу жалобу в Роспотребнадзор.", "ru", ["complaint"]),
    ("I want to speak to a manager. I will file a complaint.", "en", ["manager", "complaint"]),
    ("Can I talk to your supervisor please?", "en", ["manager"]),
])
def test_escalations_match_word_forms(config, text, lang, ids):
    tr = call([("operator", 0.0, 2.0, "Hello." if lang == "en" else "Алло."), ("client", 2.0, 8.0, text)], lang)
    esc = compute_signals(tr, config).serialize()["escalations"]
    assert [e["id"] for e in esc] == ids
    assert all(e["speaker"] == "client" and e["start"] >= 2.0 for e in esc)


def test_russian_key_phrases(config):
    cfg = load_config(overrides={"company": {"names": ["Ромашка"], "glossary": {"ru": ["кредитная карта"]}}})
    tr = call([
        ("operator", 0.0, 6.0, "Добрый день, компания Ромашка, меня зовут Ольга. Чем могу помочь?"),
        ("client", 6.5, 10.0, "Меня зовут Пётр Иванов. Мне заблокировали кредитную карту."),
        ("operator", 10.5, 20.0, "Пётр, понимаю ваше беспокойство. Правильно ли я понимаю, что карту заблокировали "
                                 "вчера? Оставайтесь, пожалуйста, на линии."),
        ("operator", 30.0, 40.0, "Я разблокировала кредитные карты. Номер обращения [NUMBER], перезвоню до пятницы. "
                                 "Могу ли я ещё чем-то помочь?"),
        ("client", 40.5, 43.0, "Всё работает, спасибо большое!"),
    ], "ru")
    p = compute_signals(tr, cfg).serialize()["phrases"]
    assert p["greeting_company"][0]["quote"] == "Добрый день, компания Ромашка"
    assert p["own_name"][0]["quote"] == "меня зовут Ольга"
    assert [e["quote"] for e in p["client_name"]] == ["Пётр"]
    assert p["empathy"][0]["quote"] == "понимаю ваше беспокойство"
    assert p["paraphrase"][0]["quote"] == "Правильно ли я понимаю"
    assert p["hold_transfer"][0]["quote"].startswith("Оставайтесь")
    assert [e["quote"] for e in p["commitment"]] == ["Номер обращения [NUMBER]", "перезвоню", "до пятницы"]
    assert p["resolution"][0]["quote"] == "Я разблокировала"
    assert p["further_help"][0]["quote"] == "Могу ли я ещё"
    assert [e["quote"] for e in p["client_confirms"]] == ["Всё работает", "спасибо большое"]
    assert [e["quote"] for e in p["glossary"]] == ["кредитные карты"]  # the client's use does not count
    assert any(e["quote"] == "пожалуйста" for e in p["politeness"])
    assert all(e["speaker"] == "operator" for k, v in p.items() if k != "client_confirms" for e in v)


def test_english_key_phrases_and_conflict(config):
    tr = call([
        ("operator", 0.0, 5.0, "Good morning, thank you for calling Contoso. My name is Sam."),
        ("client", 5.5, 9.0, "Hi, this is Laura Smith. My order never arrived."),
        ("operator", 9.5, 18.0, "I'm sorry to hear that, Laura. So what you're saying is the parcel is lost? "
                                "Please hold, I will transfer you."),
        ("operator", 25.0, 32.0, "I have refunded the order. Your reference number is [NUMBER]. "
                                 "As I already said, that's your problem. Anything else?"),
        ("client", 33.0, 35.0, "That solved it, thank you."),
    ], "en")
    p = compute_signals(tr, config).serialize()["phrases"]
    assert p["greeting_company"][0]["quote"] == "Good morning, thank you for calling Contoso"
    assert p["own_name"][0]["quote"] == "My name is Sam"
    assert [e["quote"] for e in p["client_name"]] == ["Laura"]
    assert p["empathy"][0]["quote"] == "I'm sorry"
    assert p["paraphrase"][0]["quote"] == "So what you're saying is"
    assert [e["quote"] for e in p["hold_transfer"]] == ["Please hold", "I will transfer"]
    assert p["resolution"][0]["quote"] == "I have refunded"
    assert p["commitment"][0]["quote"] == "reference number is [NUMBER]"
    assert [e["id"] for e in p["conflict"]] == ["already_said", "your_problem"]
    assert p["client_confirms"][0]["quote"] == "That solved it"


def test_questions_open_closed_and_before_solution(config):
    tr = call([
        ("operator", 0.0, 3.0, "Здравствуйте! Чем могу помочь?"),  # offer of help: not a discovery question
        ("client", 3.0, 6.0, "У меня не проходит платёж."),
        ("operator", 6.0, 12.0, "Скажите, пожалуйста, что именно пишет приложение? Вы уже перезагружали телефон?"),
        ("client", 12.0, 15.0, "Пишет ошибку."),
        ("operator", 15.0, 22.0, "Я исправила настройки. Когда будете платить в следующий раз?"),
    ], "ru")
    s = compute_signals(tr, config).serialize()
    q = s["questions"]
    assert [e["quote"] for e in q["open"]] == ["Скажите, пожалуйста, что именно пишет приложение",
                                                "Когда будете платить в следующий раз"]
    assert [e["quote"] for e in q["closed"]] == ["Вы уже перезагружали телефон"]
    assert s["first_solution_s"] == pytest.approx(15.0)
    assert q["before_solution"] == 2 and q["first_question_s"] == pytest.approx(6.0)


def test_unpunctuated_text_still_finds_questions(config):
    tr = call([("operator", 0.0, 5.0, "what exactly happened with the card"), ("client", 5.0, 8.0, "it broke")], "en")
    assert len(compute_signals(tr, config).serialize()["questions"]["open"]) == 1


def test_a_bad_pattern_fails_when_the_configuration_loads(tmp_path):
    user = tmp_path / "custom.yaml"
    user.write_text("lexicons:\n  en:\n    empathy:\n      entries: ['{client} must be fine']\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(user)
    assert "lexicons.en.empathy.entries.0.text" in str(e.value) and "{client}" in str(e.value)


def test_a_pattern_word_without_letters_or_only_optional_words_is_rejected(tmp_path):
    user = tmp_path / "custom.yaml"
    for entries, where, problem in ((["sorry", "= !!"], "entries.1.text", "needs a word"),
                                    (["sorry", {"text": "calm down", "unless_followed_by": ["a|"]}],
                                     "entries.1.unless_followed_by", "needs a word"),
                                    (["really? sorry?"], "entries.0.text", "only optional")):
        user.write_text(json.dumps({"lexicons": {"en": {"empathy": {"entries": entries}}}}), encoding="utf-8")
        with pytest.raises(ConfigError) as e:
            load_config(user)
        assert f"lexicons.en.empathy.{where}" in str(e.value) and problem in str(e.value)


def test_client_confirmation_and_its_negated_trap(config):
    def confirms(text):
        tr = call([("operator", 0.0, 2.0, "Проверьте, пожалуйста."), ("client", 2.0, 5.0, text)], "ru")
        return [e["quote"] for e in compute_signals(tr, config).serialize()["phrases"]["client_confirms"]]

    assert confirms("Да, карта работает.") == ["карта работает"]
    assert confirms("Нет, карта не работает.") == []
    assert confirms("Вопрос решён, спасибо большое!") == ["Вопрос решён", "спасибо большое"]


def test_paraphrase_marker_only_at_the_start_of_a_sentence(config):
    def para(text):
        return [e["quote"] for e in compute_signals(op(text, "ru"), config).serialize()["phrases"]["paraphrase"]]

    assert para("То есть списание было вчера?") == ["То есть"]
    assert para("Списание, то есть плата, было вчера.") == []


def _client(text, lang, config):
    greet = "Здравствуйте, слушаю вас." if lang == "ru" else "Hello, how can I help?"
    tr = call([("operator", 0.0, 3.0, greet), ("client", 3.5, 8.0, text)], lang)
    return compute_signals(tr, config).serialize()


@pytest.mark.parametrize("lang, negated, plain", [
    ("ru", "Ладно, я не буду жаловаться.", "Ладно, я буду жаловаться."),
    ("ru", "Никаких претензий у меня нет.", "У меня к вам претензия."),
    ("en", "Fine, I won't complain.", "Fine, I'll file a complaint."),
    ("en", "I will not complain about it.", "I will complain about it."),
])
def test_escalation_negation_scope(config, lang, negated, plain):
    """A negated complaint is no escalation; the same words without the negation are (issue 10)."""
    assert _client(negated, lang, config)["escalations"] == []
    assert [e["id"] for e in _client(plain, lang, config)["escalations"]] == ["complaint"]
    # a comma ends the negation's scope: "не знаю, буду жаловаться" is an escalation
    if lang == "ru":
        assert [e["id"] for e in _client("Не знаю, буду жаловаться.", lang, config)["escalations"]] == ["complaint"]


def test_complaint_words_are_not_emotion(config):
    """Naming a complaint is an escalation signal, not negative sentiment by itself."""
    for lang, text in (("ru", "Я не буду жаловаться."), ("en", "I won't complain.")):
        assert _client(text, lang, config)["sentiment"]["client_start"] == 0.0


@pytest.mark.parametrize("lang, threat, fact", [
    # the same situation in both languages (issue F1 of the unseen-calls check): a threat to cancel is an
    # escalation, the account of a cancellation that already happened is not
    ("en", "I want to cancel my subscription.",
     "I cancelled my subscription last week but you charged me again."),
    ("ru", "Я хочу отменить подписку.", "Я отменила подписку на прошлой неделе, а вы снова списали деньги."),
    ("en", "I'm going to close my account.", "You closed my account by mistake."),
    ("ru", "Я закрою счёт в вашем банке.", "Я закрыла счёт в прошлом году."),
    ("en", "I'll cancel my contract.", "I have already cancelled the contract."),
    ("ru", "Я буду расторгать договор.", "Договор я расторгла ещё весной."),
    ("en", "Cancel my subscription, please.", "The subscription was cancelled in May."),
    ("ru", "Хочу отказаться от подписки.", "Подписка была отменена, но деньги списали."),
    ("en", "I will switch to another bank.", "I switched from another bank last year."),
    ("ru", "Я уйду к конкурентам.", "Я ушла к конкурентам и вернулась."),
])
def test_a_threat_to_cancel_is_an_escalation_a_past_cancellation_is_not(config, lang, threat, fact):
    assert [e["id"] for e in _client(threat, lang, config)["escalations"]] == ["cancel"]
    assert _client(fact, lang, config)["escalations"] == []


@pytest.mark.parametrize("lang, text", [
    ("en", "I don't want to cancel my account."),
    ("en", "I'm not going to cancel my subscription."),
    ("en", "I won't cancel my account."),
    ("ru", "Я не хочу отменять подписку."),
    ("ru", "Я не буду закрывать счёт."),
    ("ru", "Я никогда не откажусь от вашей карты."),
])
def test_a_negated_threat_to_cancel_is_no_escalation(config, lang, text):
    assert _client(text, lang, config)["escalations"] == []


@pytest.mark.parametrize("text, quote", [
    ("Я оформила отмену подписки и возврат средств.", "Я оформила отмену"),  # F2 of the unseen-calls check
    ("Возврат оформлен, деньги придут через три дня.", "Возврат оформлен"),
    ("Я отключила платную услугу.", "Я отключила"),
])
def test_russian_resolution_phrases_of_a_cancellation(config, text, quote):
    assert [e["quote"] for e in compute_signals(op(text, "ru"), config).serialize()["phrases"]["resolution"]] == [quote]


def test_a_filler_the_asr_was_unsure_of_is_not_counted(config):
    """Whisper writes "like" into garbled narrow-band speech at low probability ("You will get it like all
    women"): `min_probability` of the entry drops it; a "like" it was sure of, or one in a transcript
    without word probabilities, still counts."""
    def said(p_like):
        words = (Word("You", 0.0, 0.2, 0.9), Word("will", 0.2, 0.4, 0.9), Word("get", 0.4, 0.6, 0.8),
                 Word("it,", 0.6, 0.8, 0.9), Word("like,", 0.9, 1.1, p_like), Word("tomorrow.", 1.2, 1.8, 0.7))
        text = " ".join(w.text for w in words)
        tr = Transcript(turns=(Turn("operator", 0.0, 1.8, text, words), Turn("client", 2.5, 3.0, "Okay.")),
                        language="en", duration_s=3.0)
        return [f["text"] for f in compute_signals(tr, config).serialize()["filler_words"]["items"]]

    assert said(0.2) == []
    assert said(0.8) == ["like"]
    assert fillers("You will get it, like, tomorrow.", "en", config) == ["like"]  # no word probabilities
