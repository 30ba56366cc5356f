"""Script compliance: stages matched by lemma with optional words between, by speaker, in their time
window, in order; required vs optional; weights; outbound script by metadata; company names from config."""

from __future__ import annotations

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.signals import compute_signals
from callqa.pipeline.types import CallMeta, Transcript, Turn

INBOUND_IDS = ["greeting", "offer_help", "need_discovery", "paraphrase", "resolution", "further_help", "farewell"]


def call(turns, lang, duration=None):
    ts = tuple(Turn(s, a, b, text) for s, a, b, text in turns)
    return Transcript(turns=ts, language=lang, duration_s=duration or max(t.end for t in ts))


def stages(signals):
    return {s["id"]: s for s in signals.serialize()["script"]["stages"]}


RU_GOOD = [
    ("operator", 0.5, 6.0, "Добрый день! Компания Ромашка, меня зовут Анна. Чем я могу вам помочь?"),
    ("client", 6.5, 12.0, "У меня списали деньги два раза."),
    ("operator", 12.5, 18.0, "Расскажите, пожалуйста, когда это произошло?"),
    ("client", 18.5, 22.0, "Вчера вечером."),
    ("operator", 22.5, 30.0, "Правильно ли я поняла, что оплата прошла дважды вчера?"),
    ("client", 30.5, 32.0, "Да."),
    ("operator", 32.5, 45.0, "Я оформила возврат второго платежа, деньги вернутся в течение трёх дней."),
    ("operator", 45.5, 50.0, "Могу ли я ещё чем-то вам помочь?"),
    ("client", 50.5, 52.0, "Нет, спасибо."),
    ("operator", 52.5, 55.0, "Спасибо за обращение, всего доброго!"),
]


def test_default_inbound_stage_ids_are_the_contract(config):
    for lang in ("ru", "en"):
        assert [s.id for s in config.section(f"scripts.{lang}.inbound").stages] == INBOUND_IDS
        assert config.section(f"scripts.{lang}.outbound").stages[0].id == "greeting"


def test_russian_good_call_finds_every_stage_in_order(config):
    sig = compute_signals(call(RU_GOOD, "ru"), config)
    st = stages(sig)
    assert list(st) == INBOUND_IDS
    turn_of = {"greeting": 0, "offer_help": 0, "need_discovery": 2, "paraphrase": 4, "resolution": 6,
               "further_help": 7, "farewell": 9}
    for sid, turn in turn_of.items():
        assert st[sid]["found"] and st[sid]["turn"] == turn, sid
        assert st[sid]["in_order"] and st[sid]["in_window"], sid
    # word forms: "Чем я могу вам помочь" ~ "чем могу помочь"; "правильно ли я поняла" ~ "... понимаю"
    assert st["offer_help"]["quote"] == "Чем я могу вам помочь"
    assert st["paraphrase"]["quote"] == "Правильно ли я поняла"
    assert sig.serialize()["script"]["compliance"] == 1.0
    assert sig.serialize()["script"]["script_id"] == "ru-inbound"


def test_missing_and_late_stages_lower_compliance(config):
    turns = [t for i, t in enumerate(RU_GOOD) if i not in (4, 9)]  # no paraphrase, no farewell
    # the offer of help comes late: at 60 s, outside its 45 s window
    turns = [("operator", 0.5, 3.0, "Добрый день!"), ("client", 3.5, 58.0, "Алло, алло, плохо слышно.")] + \
        [("operator", 60.0, 63.0, "Чем могу помочь?")] + [(s, a + 63, b + 63, t) for s, a, b, t in turns[1:]]
    st = stages(compute_signals(call(turns, "ru"), config))
    assert not st["paraphrase"]["found"] and not st["farewell"]["found"]
    assert st["offer_help"]["found"] and st["offer_help"]["in_window"] is False
    s = compute_signals(call(turns, "ru"), config).serialize()["script"]
    assert s["compliance"] == pytest.approx(4 / 7, abs=1e-3)
    lenient = load_config(overrides={"signals": {"compliance": {"requires_window": False}}})
    assert compute_signals(call(turns, "ru"), lenient).serialize()["script"]["compliance"] == pytest.approx(5 / 7,
                                                                                                            abs=1e-3)


def test_stage_said_by_the_client_does_not_count(config):
    turns = [("client", 0.0, 3.0, "Здравствуйте, чем могу помочь, шучу."), ("operator", 3.5, 6.0, "Слушаю.")]
    st = stages(compute_signals(call(turns, "ru"), config))
    assert not st["greeting"]["found"]


def test_out_of_order_stage_is_marked(config):
    turns = [("operator", 0.0, 4.0, "Hello, how can I help you?"),
             ("client", 4.0, 8.0, "My internet is down."),
             ("operator", 8.0, 12.0, "Have a nice day! Sorry, wrong button. What exactly happened?"),
             ("client", 12.0, 15.0, "It just stopped."),
             ("operator", 15.0, 20.0, "I have reset your router. Anything else?"),
             ("client", 20.0, 22.0, "No."), ("operator", 22.0, 24.0, "Goodbye.")]
    st = stages(compute_signals(call(turns, "en"), config))
    # the farewell at 8 s is out of its window (last 30 s of a 24 s call is everything) but the pick is the
    # in-order one at 22 s
    assert st["farewell"]["start"] == pytest.approx(22.0, abs=0.5) and st["farewell"]["in_order"]
    assert not st["paraphrase"]["found"]


def test_company_names_from_config_are_required_for_the_greeting():
    cfg = load_config(overrides={"company": {"names": ["Ромашка", "Romashka"]}})
    with_name = stages(compute_signals(call(RU_GOOD, "ru"), cfg))
    assert with_name["greeting"]["found"] and with_name["greeting"]["turn"] == 0
    other = load_config(overrides={"company": {"names": ["Василёк"]}})
    assert not stages(compute_signals(call(RU_GOOD, "ru"), other))["greeting"]["found"]
    # inflected company name still counts: "компании Ромашки" ~ "Ромашка"
    turns = [("operator", 0.0, 5.0, "Добрый день, вы позвонили в службу поддержки компании Ромашки.")] + RU_GOOD[1:]
    assert stages(compute_signals(call(turns, "ru"), cfg))["greeting"]["found"]


def test_outbound_script_is_chosen_by_direction_or_role(config):
    turns = [("operator", 0.0, 6.0, "Good afternoon, this is Mark calling from Contoso. Is this a good time to talk?"),
             ("client", 6.0, 8.0, "Sure."),
             ("operator", 8.0, 15.0, "I'm calling about your internet plan. How often do you use streaming?"),
             ("client", 15.0, 18.0, "Every day."),
             ("operator", 18.0, 28.0, "We have a special offer: double speed for the same price. I will send you the "
                                      "details by email today."),
             ("client", 28.0, 30.0, "Okay."), ("operator", 30.0, 33.0, "Thank you for your time, goodbye!")]
    for meta in (CallMeta(direction="outbound"), CallMeta(role="outbound")):
        s = compute_signals(call(turns, "en"), config, meta=meta).serialize()["script"]
        assert s["script_id"] == "en-outbound"
        st = {x["id"]: x for x in s["stages"]}
        assert all(st[k]["found"] for k in ("greeting", "introduction", "permission", "purpose", "need_discovery",
                                            "offer", "next_steps", "farewell")), st
        assert s["compliance"] == 1.0
    inbound = compute_signals(call(turns, "en"), config, meta=CallMeta(direction="inbound")).serialize()["script"]
    assert inbound["script_id"] == "en-inbound"


def test_stage_windows_from_the_end_and_as_a_share(tmp_path):
    user = tmp_path / "script.yaml"
    user.write_text(
        "scripts:\n  en:\n    inbound:\n      id: custom\n      stages:\n"
        "        - {id: greeting, patterns: [hello], window: {anchor: start, within_share: 0.1}}\n"
        "        - {id: farewell, patterns: [goodbye], window: {anchor: end, within_s: 10}}\n"
        "        - {id: survey, patterns: [rate the call], required: false, weight: 3}\n", encoding="utf-8")
    cfg = load_config(user)
    turns = [("operator", 0.0, 5.0, "Hello there."), ("client", 5.0, 60.0, "Long story about my problem."),
             ("operator", 60.0, 70.0, "Goodbye now."), ("operator", 90.0, 99.0, "Oh, and goodbye again.")]
    s = compute_signals(call(turns, "en", duration=100.0), cfg).serialize()["script"]
    st = {x["id"]: x for x in s["stages"]}
    assert s["script_id"] == "custom" and st["greeting"]["in_window"]
    assert st["farewell"]["start"] >= 90.0 and st["farewell"]["in_window"]  # the in-window "goodbye" is chosen
    assert not st["survey"]["found"] and s["compliance"] == 1.0  # optional stages do not count


def test_invalid_script_config_fails_at_load_naming_the_key(tmp_path):
    user = tmp_path / "bad.yaml"
    user.write_text("scripts:\n  ru:\n    inbound:\n      id: x\n      stages:\n"
                    "        - {id: greeting, patterns: [привет], window: {anchor: start}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(user)
    assert "scripts.ru.inbound.stages.0.window" in str(e.value) and "within_s" in str(e.value)


@pytest.mark.parametrize("lang, names, mangled, unrelated", [
    ("en", ["Northwind Bank"],
     "Good morning, North wind bank, my name is Anna, how can I help you?",
     "Good morning, North side branch, my name is Anna, how can I help you?"),
    ("en", ["Northwind Bank"],
     "Good morning, Nortwind, my name is Anna, how can I help you?",
     "Good morning, Network, my name is Anna, how can I help you?"),
    ("ru", ["Ромашка"],
     "Добрый день, компания Рамашка, меня зовут Анна, чем могу помочь?",
     "Добрый день, компания Рубашка, меня зовут Анна, чем могу помочь?"),
])
def test_asr_mangled_company_name_still_counts_for_the_greeting(lang, names, mangled, unrelated):
    """A company name mangled by ASR (split, a letter lost) counts; a different word does not (issue 9)."""
    cfg = load_config(overrides={"company": {"names": names}})
    rest = [("client", 5.0, 8.0, "Hello." if lang == "en" else "Здравствуйте.")]
    assert stages(compute_signals(call([("operator", 0.0, 5.0, mangled)] + rest, lang), cfg))["greeting"]["found"]
    assert not stages(compute_signals(call([("operator", 0.0, 5.0, unrelated)] + rest, lang), cfg))["greeting"]["found"]


def _shifted(src, dest, lead_s, tail_s):
    """The transcript import `src` as a recording that holds `lead_s` of queue or ringback before
    the pickup and `tail_s` of dead air after the hang-up."""
    import json

    data = json.loads(src.read_text(encoding="utf-8"))
    for t in data["turns"]:
        t["start"] += lead_s
        t["end"] += lead_s
        for w in t.get("words", []):
            w["start"] += lead_s
            w["end"] += lead_s
    data["duration_s"] = data["duration_s"] + lead_s + tail_s
    dest.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return dest


@pytest.mark.parametrize("name", ["ru_good_inbound_tx", "en_good_inbound_tx"])
def test_windows_count_from_the_conversation_not_the_recording_edges(config, tmp_path, name):
    """A recording that starts 45 s before the operator picks up (queue music, ringback) and runs
    on 60 s after the hang-up scores the operator as the same call without them: the greeting is
    in its window, the farewell too, and the time to the first question is the same."""
    from pathlib import Path

    from callqa.pipeline.process import process_call

    src = Path(__file__).resolve().parents[1] / "sample_calls" / "transcripts" / f"{name}.json"
    plain = process_call(src, config).serialize()
    late = process_call(_shifted(src, tmp_path / f"{name}.json", 45.0, 60.0), config).serialize()
    assert plain["duration_s"] + 105.0 == pytest.approx(late["duration_s"])
    for a, b in zip(plain["signals"]["script"]["stages"], late["signals"]["script"]["stages"]):
        assert (a["id"], a["found"], a["in_window"], a["in_order"]) == (b["id"], b["found"], b["in_window"],
                                                                        b["in_order"])
    assert late["signals"]["script"]["compliance"] == plain["signals"]["script"]["compliance"] == 1.0
    ttq = {d: {i["id"]: i for i in r["indicators"]}["time_to_first_question"] for d, r in (("plain", plain),
                                                                                            ("late", late))}
    assert ttq["late"]["value"] == pytest.approx(ttq["plain"]["value"]) and ttq["late"]["score"] == ttq["plain"]["score"]
    assert late["signals"]["sentiment"]["client_start"] == plain["signals"]["sentiment"]["client_start"]


@pytest.mark.parametrize("lang, opening, problem, asked, quote", [
    ("en", "Good evening, Maple Bank, my name is Emma. How can I help you?", "Hello, I think I lost my bank card today.",
     "I understand, that must be worrying, when did you last use the card?", "when did you last use the card"),
    ("ru", "Добрый день, компания Ромашка, меня зовут Анна. Чем могу помочь?", "У меня списали деньги два раза.",
     "Понимаю, это очень неприятно для вас, когда это произошло?", "когда это произошло"),
], ids=["en", "ru"])
def test_open_question_run_on_after_a_comma_is_discovery(config, lang, opening, problem, asked, quote):
    """Whisper often joins a statement and the question after it with a comma: the open question at
    the end of the sentence still counts as need discovery, quoted from its own clause; a closed one
    joined the same way stays closed."""
    turns = [("operator", 0.3, 6.9, opening), ("client", 7.2, 13.3, problem), ("operator", 13.6, 18.9, asked),
             ("client", 19.2, 21.8, "Yes." if lang == "en" else "Да.")]
    sig = compute_signals(call(turns, lang), config).serialize()
    st = {s["id"]: s for s in sig["script"]["stages"]}
    assert st["need_discovery"]["found"] and st["need_discovery"]["quote"] == quote
    assert [q["quote"] for q in sig["questions"]["open"]] == [quote]
    closed = "I understand, that must be worrying, is it the debit card?" if lang == "en" else \
        "Понимаю, это очень неприятно для вас, это дебетовая карта?"
    sig = compute_signals(call(turns[:2] + [("operator", 13.6, 18.9, closed)] + turns[3:], lang), config).serialize()
    assert not sig["questions"]["open"] and len(sig["questions"]["closed"]) == 1
