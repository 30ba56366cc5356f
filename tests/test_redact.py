"""PII redaction: phones, Luhn-checked cards, e-mails, Russian passports, spoken digit runs; word times kept;
lexicon matching still works on the redacted text."""

from __future__ import annotations

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.privacy.redact import luhn_ok, redact_text, redact_transcript
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.types import Transcript, Turn, Word


@pytest.mark.parametrize("text, expected", [
    ("Мой телефон +7 (916) 123-45-67, перезвоните.", "Мой телефон [PHONE], перезвоните."),
    ("call me on 8 916 123 45 67 or 555-12-34", "call me on [PHONE] or [PHONE]"),
    ("Карта 4111 1111 1111 1111.", "Карта [CARD]."),
    ("почта ivan.petrov@mail.ru, спасибо", "почта [EMAIL], спасибо"),
    ("write to john dot smith at gmail dot com", "write to [EMAIL]"),
    ("look at this dot", "look at this dot"),
    ("ivan собака mail точка ru", "[EMAIL]"),
    ("Паспорт 4510 123456 выдан", "Паспорт [PASSPORT] выдан"),
    ("серия паспорта сорок пять десять", "серия паспорта [PASSPORT]"),
    ("номер четыре пять семь два девять один", "номер [NUMBER]"),
    ("it is four five seven two", "it is [NUMBER]"),
    ("ticket 4 7 2 9, thanks", "ticket [NUMBER], thanks"),
    ("заказ 12345678 оформлен", "заказ [NUMBER] оформлен"),
])
def test_personal_data_is_replaced_by_tags(config, text, expected):
    assert redact_text(text, config) == expected


@pytest.mark.parametrize("text", [
    "Перезвоню до 15:00, это 2024 год, 1 500 рублей.",
    "one or two things, twenty-five minutes, version 3.2",
    "Дата 14.05.2024, пять минут, три дня",
])
def test_times_amounts_and_short_numbers_stay(config, text):
    assert redact_text(text, config) == text


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112") and not luhn_ok("12a4")


def test_a_16_digit_number_failing_luhn_is_still_a_number_not_a_card(config):
    assert redact_text("карта 4111 1111 1111 1112", config) == "карта [NUMBER]"


def test_word_times_are_kept_and_evidence_still_points_at_the_moment(config):
    said = "Номер заявки четыре пять семь два, перезвоню завтра."
    words = tuple(Word(w, 10.0 + i * 0.5, 10.4 + i * 0.5) for i, w in enumerate(said.split()))
    tr = Transcript(turns=(Turn("operator", 10.0, 15.0, said, words), Turn("client", 15.5, 17.0, "Спасибо.")),
                    language="ru", duration_s=17.0)
    red = redact_transcript(tr, config)
    turn = red.turns[0]
    assert turn.text == "Номер заявки [NUMBER], перезвоню завтра."
    assert [w.text for w in turn.words] == ["Номер", "заявки", "[NUMBER],", "перезвоню", "завтра."]
    tag = turn.words[2]
    assert (tag.start, tag.end) == (11.0, 12.9)  # from "четыре" to "два"
    assert red.turns[1] is tr.turns[1]  # nothing to redact: untouched
    commitments = compute_signals(red, config).serialize()["phrases"]["commitment"]
    first = commitments[0]
    assert first["quote"] == "Номер заявки [NUMBER]" and (first["start"], first["end"]) == (10.0, 12.9)
    assert not any("четыре" in str(v) for v in compute_signals(red, config).serialize().values())


def test_english_ticket_number_still_counts_as_a_commitment(config):
    tr = Transcript(turns=(Turn("operator", 0.0, 5.0, "Your ticket number is four seven two nine."),),
                    language="en", duration_s=5.0)
    red = redact_transcript(tr, config)
    assert red.turns[0].text == "Your ticket number is [NUMBER]."
    assert compute_signals(red, config).serialize()["phrases"]["commitment"][0]["quote"] == \
        "ticket number is [NUMBER]"


def test_kinds_and_tags_are_configurable():
    cfg = load_config(overrides={"privacy": {"kinds": ["email"], "tags": {"email": "[MAIL]"}}})
    assert redact_text("a@b.io +7 916 123 45 67", cfg) == "[MAIL] +7 916 123 45 67"


def test_privacy_is_on_by_default(config):
    assert config.section("privacy").redact is True


def test_call_ids_that_look_like_phones_are_masked_and_others_are_not():
    from callqa.pipeline.privacy.redact import mask_call_id

    cfg = load_config()
    assert mask_call_id("+79031234567", cfg) == "+*********67"
    assert mask_call_id("89031234567_en", cfg) == "*********67_en"
    assert mask_call_id("blue-bad-en", cfg) == "blue-bad-en"
    assert mask_call_id("call-0042", cfg) == "call-0042"
    off = load_config(overrides={"privacy": {"mask_call_ids": False}})
    assert mask_call_id("+79031234567", off) == "+79031234567"


def test_dropped_asr_text_redacted_or_dropped_as_configured():
    from callqa.pipeline.privacy.redact import redact_processing

    notes = {"asr_dropped": [{"start": 1.0, "end": 2.0, "text": "мой телефон +7 916 123-45-67", "reason": "crosstalk",
                              "channel": 1},
                             {"start": 3.0, "end": 3.5, "text": "угу", "reason": "low_confidence", "channel": 0}]}
    red = dict(notes)
    spans = redact_processing(red, load_config())
    assert red["asr_dropped"][0]["text"] == "мой телефон [PHONE]" and red["asr_dropped"][1]["text"] == "угу"
    assert spans == [{"start": 1.0, "end": 2.0, "channel": 1, "kind": "phone"}]
    dropped = dict(notes)
    spans = redact_processing(dropped, load_config(overrides={"privacy": {"dropped_text": "drop"}}))
    assert all("text" not in d for d in dropped["asr_dropped"]) and len(spans) == 2


def test_audio_spans_muted_or_beeped():
    import numpy as np

    from callqa.pipeline.privacy.audio_redact import redact_samples

    rate = 8000
    x = np.full((rate * 2, 2), 0.5, dtype=np.float32)
    muted = redact_samples(x, rate, [{"start": 0.5, "end": 1.0}], "mute")
    assert np.all(muted[int(0.45 * rate):int(1.05 * rate)] == 0) and np.all(muted[: int(0.4 * rate)] == 0.5)
    beeped = redact_samples(x, rate, [{"start": 0.5, "end": 1.0}], "beep")
    seg = beeped[int(0.5 * rate):int(1.0 * rate), 0]
    assert 0.05 < float(np.sqrt(np.mean(seg ** 2))) < 0.1 and not np.any(seg == 0.5)
