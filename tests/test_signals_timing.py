"""Timing signals on hand-built transcripts: talk time and ratio, silences, interruptions, speech rate,
monologues, response latency; one call alone and in a batch give the same numbers."""

from __future__ import annotations

import pytest

from callqa.pipeline.config import load_config
from callqa.pipeline.signals import compute_signals, compute_signals_batch
from callqa.pipeline.types import Transcript, Turn


def call(turns, lang="en", duration=None):
    ts = tuple(Turn(s, a, b, text) for s, a, b, text in turns)
    return Transcript(turns=ts, language=lang, duration_s=duration or max(t.end for t in ts))


EN = call([
    ("operator", 1.0, 6.0, "Hello, thank you for calling. How can I help you today?"),
    ("client", 6.5, 14.0, "My card does not work and I need to pay for my hotel tonight."),
    ("operator", 13.0, 20.0, "I see, let me check the card right now for you, one moment please."),  # interrupts 1.0 s
    ("client", 17.0, 18.0, "Mm-hmm."),  # backchannel inside the operator's turn: not an interruption
    ("operator", 26.0, 30.0, "Thank you for waiting, the card is working again now."),  # 6 s of dead air before
    ("client", 31.0, 33.0, "Great, thanks a lot."),
], duration=36.0)


def test_talk_time_ratio_and_silences(config):
    s = compute_signals(EN, config).serialize()
    assert s["talk_time_s"] == {"operator": pytest.approx(16.0), "client": pytest.approx(10.5)}
    assert s["talk_ratio_operator"] == pytest.approx(16.0 / 26.5, abs=1e-3)
    # nobody speaks: 6.0-6.5, 20.0-26.0, 30.0-31.0 (the edges do not count by default)
    assert s["silence_s"] == pytest.approx(0.5 + 6.0 + 1.0)
    assert s["longest_silence_s"] == pytest.approx(6.0)
    assert s["longest_silence"] == {"start": 20.0, "end": 26.0, "speaker": None, "quote": ""}


def test_silence_edges_are_configurable():
    cfg = load_config(overrides={"signals": {"silence": {"include_edges": True, "min_gap_s": 0.8}}})
    s = compute_signals(EN, cfg).serialize()
    # lead 1.0 + 6.0 + 1.0 + trail 3.0; the 0.5 s gap is under min_gap_s
    assert s["silence_s"] == pytest.approx(11.0)
    assert s["longest_silence_s"] == pytest.approx(6.0)


def test_interruptions_need_overlap_and_ignore_backchannels(config):
    s = compute_signals(EN, config).serialize()
    ints = s["interruptions"]
    assert (ints["by_operator"], ints["by_client"]) == (1, 0)
    item = ints["items"][0]
    assert item["by"] == "operator" and item["start"] == 13.0 and item["overlap_s"] == pytest.approx(1.0)
    assert item["quote"].startswith("I see, let me check")
    strict = load_config(overrides={"signals": {"interruptions": {"min_overlap_s": 1.5}}})
    assert compute_signals(EN, strict).serialize()["interruptions"]["by_operator"] == 0
    noisy = load_config(overrides={"signals": {"interruptions": {"ignore_backchannels": False}}})
    assert compute_signals(EN, noisy).serialize()["interruptions"]["by_client"] == 1


def test_client_interrupting_operator_is_counted_for_the_client(config):
    tr = call([("operator", 0.0, 10.0, "Let me explain the whole tariff to you in detail now."),
               ("client", 4.0, 7.0, "No no, wait, I asked about something else."),
               ("operator", 11.0, 12.0, "Sorry.")])
    s = compute_signals(tr, config).serialize()
    assert (s["interruptions"]["by_operator"], s["interruptions"]["by_client"]) == (0, 1)
    assert s["interruptions"]["items"][0]["speaker"] == "client"


def test_speech_rate_words_and_russian_syllables(config):
    tr = call([("operator", 0.0, 6.0, "Здравствуйте, компания Ромашка, меня зовут Анна."),  # 6 words, 16 syllables
               ("client", 6.0, 9.0, "Добрый день.")], lang="ru")  # 2 words, 3 syllables
    s = compute_signals(tr, config).serialize()
    assert s["words"] == {"operator": 6, "client": 2}
    assert s["speech_rate_wpm"]["operator"] == pytest.approx(60.0)
    assert s["speech_rate_wpm"]["client"] == pytest.approx(40.0)
    assert s["syllables_per_s"]["operator"] == pytest.approx(16 / 6, abs=1e-3)
    assert s["syllables_per_s"]["client"] == pytest.approx(1.0)


def test_monologue_and_response_latency(config):
    s = compute_signals(EN, config).serialize()
    # operator 13.0-20.0 (the client's mm-hmm does not break it), then 6 s pause -> a new run
    assert s["longest_monologue_s"]["operator"] == pytest.approx(7.0)
    mono = s["longest_monologue"]
    assert (mono["start"], mono["end"], mono["speaker"]) == (13.0, 20.0, "operator")
    assert mono["quote"].startswith("I see")
    # operator after client: only at 13.0 (started before the client ended -> 0); the mm-hmm is not a turn
    assert s["response_latency_s"] == {"mean": 0.0, "max": 0.0}
    tr = call([("client", 0.0, 3.0, "Hello?"), ("operator", 4.5, 6.0, "Good morning."),
               ("client", 6.0, 9.0, "I have a question."), ("operator", 9.5, 11.0, "Sure, go ahead.")])
    lat = compute_signals(tr, config).serialize()["response_latency_s"]
    assert lat["mean"] == pytest.approx(1.0) and lat["max"] == pytest.approx(1.5)


def test_batch_gives_the_same_signals_as_one_by_one(config):
    ru = call([("operator", 0.0, 4.0, "Добрый день, чем могу помочь?"), ("client", 3.0, 8.0, "Ну у меня проблема.")],
              lang="ru")
    one = [compute_signals(t, config).serialize() for t in (EN, ru)]
    many = [s.serialize() for s in compute_signals_batch([EN, ru], config)]
    assert many == one


def test_empty_and_one_sided_calls_do_not_break(config):
    empty = Transcript(turns=(), language="en", duration_s=10.0)
    s = compute_signals(empty, config).serialize()
    assert s["talk_ratio_operator"] is None and s["response_latency_s"] is None
    assert s["sentiment"]["client_start"] is None and s["filler_words"]["per_100_words"] is None
    solo = compute_signals(call([("operator", 0.0, 3.0, "Hello? Hello?")]), config).serialize()
    assert solo["talk_ratio_operator"] == 1.0 and solo["speech_rate_wpm"]["client"] is None


SHAPE = {
    "talk_time_s", "talk_ratio_operator", "silence_s", "longest_silence_s", "longest_silence", "interruptions",
    "speech_rate_wpm", "syllables_per_s", "words", "filler_words", "script", "forbidden_phrases", "escalations",
    "sentiment", "loudness", "longest_monologue_s", "longest_monologue", "response_latency_s", "questions",
    "first_solution_s", "phrases", "untranscribed"}


def test_serialized_shape_is_the_agreed_one(config):
    s = compute_signals(EN, config).serialize()
    assert set(s) == SHAPE
    assert set(s["filler_words"]) == {"count", "per_100_words", "items", "by_text"}
    assert set(s["sentiment"]) == {"client_start", "client_end", "operator_mean", "client_min", "backend", "per_turn"}
    assert set(s["questions"]) == {"open", "closed", "first_question_s", "before_solution"}
    assert set(s["phrases"]) == {"greeting_company", "own_name", "politeness", "empathy", "paraphrase", "client_name",
                                 "commitment", "resolution", "further_help", "client_confirms", "dont_know_followed",
                                 "hold_transfer", "glossary", "conflict"}
    st = s["script"]["stages"][0]
    assert {"id", "found", "required", "start", "end", "quote", "speaker", "in_order", "in_window"} <= set(st)
    for ev in s["phrases"]["politeness"] + s["interruptions"]["items"]:
        assert {"start", "end", "speaker", "quote"} <= set(ev)
    import json
    json.dumps(s)  # plain JSON


def test_threads_sharing_compiled_patterns_get_the_same_results(config):
    from concurrent.futures import ThreadPoolExecutor

    ru = call([("operator", 0.0, 4.0, "Добрый день, чем могу помочь? Ну, вот."), ("client", 3.0, 8.0, "Позовите руководителя!")],
              lang="ru")
    want = {id(t): compute_signals(t, config).serialize() for t in (EN, ru)}
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda t: (id(t), compute_signals(t, config).serialize()), [EN, ru] * 8))
    assert all(s == want[k] for k, s in got)


def test_talk_time_is_word_level_speech_not_the_turn_span(config):
    """A 4 s pause inside the operator's turn is not speech: talk time and speech rate use speaking time;
    a turn without word times (an imported transcript) falls back to its span (issue 10)."""
    from callqa.pipeline.signals import compute_signals
    from callqa.pipeline.types import Transcript, Turn, Word

    words = (Word("Здравствуйте", 0.0, 0.8), Word("минуту", 0.9, 1.5),  # then 4 s of nothing
             Word("спасибо", 5.5, 6.0), Word("за", 6.05, 6.2), Word("ожидание", 6.25, 7.0))
    op = Turn("operator", 0.0, 7.0, "Здравствуйте, минуту. Спасибо за ожидание.", words=words)
    client = Turn("client", 7.5, 9.5, "Да, слушаю.")  # no word times
    out = compute_signals(Transcript(turns=(op, client), language="ru", duration_s=9.5), config).serialize()
    talk = out["talk_time_s"]
    assert talk["operator"] == pytest.approx(3.0, abs=0.01)  # 0..1.5 and 5.5..7.0, not 7.0
    assert talk["client"] == pytest.approx(2.0, abs=0.01)
    assert out["speech_rate_wpm"]["operator"] == pytest.approx(5 * 60 / 3.0, rel=0.02)


def test_a_turn_cut_where_the_other_speaker_came_in_is_not_an_interruption(config):
    # stereo transcripts cut a channel's turn wherever the other side starts a word: the operator's
    # "your card?" goes on without a pause; the client came in over the operator, not the other way round
    tr = call([("operator", 10.0, 17.4, "No problem. May I have the last four digits of"),
               ("client", 17.0, 20.9, "It is Michael Green, born on the fourteenth of October."),
               ("operator", 17.4, 18.0, "your card?")])
    ints = compute_signals(tr, config).serialize()["interruptions"]
    assert (ints["by_operator"], ints["by_client"]) == (0, 1)
    assert ints["items"][0]["start"] == 17.0 and ints["items"][0]["overlap_s"] == pytest.approx(1.0)


def test_taking_the_floor_back_is_an_interruption_of_its_own(config):
    # the client cuts in, the operator stops, then talks over the client again before the client is done
    tr = call([("operator", 0.0, 6.0, "Let me explain the whole tariff to you in detail now, it has three parts."),
               ("client", 5.0, 11.0, "No, wait, I asked about my bill, not the tariff, can you listen to me?"),
               ("operator", 6.7, 12.0, "Sir, please let me finish, this is important for your bill.")])
    ints = compute_signals(tr, config).serialize()["interruptions"]
    assert (ints["by_operator"], ints["by_client"]) == (1, 1)
    assert [i["by"] for i in ints["items"]] == ["client", "operator"]
    # the operator pausing inside their own speech, nobody else talking, does not start anything new
    calm = call([("operator", 0.0, 6.0, "Let me explain the tariff."), ("operator", 6.7, 9.0, "It has three parts."),
                 ("client", 9.5, 11.0, "I see.")])
    assert compute_signals(calm, config).serialize()["interruptions"]["items"] == []


def test_coming_back_in_over_a_reply_given_in_ones_own_pause_is_ones_own_interruption(config):
    # the operator pauses 0.65 s, the client answers in the pause, the operator goes on over the answer
    # after 0.6 s of it:
    # the operator's two stretches are one run by their pause alone (under pause_in_turn_s), so the
    # client's answer started "inside" it and was the client's interruption
    tr = call([("operator", 1.4, 7.2, "Good morning, I am calling from Bluestone Energy. Is that Mr Green?"),
               ("client", 7.25, 8.4, "Yes, speaking."),
               ("operator", 7.85, 13.5, "We noticed an unusual payment of two hundred dollars on your account.")])
    ints = compute_signals(tr, config).serialize()["interruptions"]
    assert (ints["by_operator"], ints["by_client"]) == (1, 0)
    assert ints["items"][0]["start"] == 7.85 and ints["items"][0]["overlap_s"] == pytest.approx(0.55)
    # going on before the client has said much alone (0.25 s: no time to hear them) is the operator's
    # turn going on after a breath, and the client came in over it
    tr = call([("operator", 1.4, 7.2, "Good morning, I am calling from Bluestone Energy. Is that Mr Green?"),
               ("client", 7.25, 8.4, "Yes, speaking."),
               ("operator", 7.5, 13.5, "We noticed an unusual payment of two hundred dollars on your account.")])
    ints = compute_signals(tr, config).serialize()["interruptions"]
    assert (ints["by_operator"], ints["by_client"]) == (0, 1)


def test_a_short_turn_wholly_inside_the_others_pause_interrupts_nobody(config):
    # a mono call: the diarizer gave 0.45 s of the operator's own speech, between two of the operator's
    # stretches, to the client (seed 5107, call 31). Nobody spoke at once, so nobody interrupted anyone,
    # though the operator's run goes on across the pause around it
    tr = call([("operator", 21.7, 26.8, "Well, that is not my department, but I will check the fee."),
               ("client", 27.05, 27.5, "It's fun."),
               ("operator", 27.55, 30.7, "The fee was added because the payment arrived late.")])
    ints = compute_signals(tr, config).serialize()["interruptions"]
    assert (ints["by_operator"], ints["by_client"], ints["items"]) == (0, 0, [])
    # a turn that runs on over the operator's next words is the client's interruption
    tr = call([("operator", 21.7, 26.8, "Well, that is not my department, but I will check the fee."),
               ("client", 27.05, 28.3, "It's fun, is it?"),
               ("operator", 27.3, 30.7, "The fee was added because the payment arrived late.")])
    ints = compute_signals(tr, config).serialize()["interruptions"]
    assert (ints["by_operator"], ints["by_client"]) == (0, 1)
    assert ints["items"][0]["overlap_s"] == pytest.approx(1.0)


def test_a_short_overlap_counts_with_the_default_threshold(config):
    # 0.4 s of measured overlap (ASR word ends come early: the real overlap was longer)
    tr = call([("client", 15.9, 18.3, "Mary Jones, the third of June nineteen seventy two."),
               ("operator", 17.9, 22.7, "Okay, I can see your account. The balance is one hundred dollars.")])
    assert compute_signals(tr, config).serialize()["interruptions"]["by_operator"] == 1
    tr = call([("client", 15.9, 18.3, "Mary Jones, the third of June nineteen seventy two."),
               ("operator", 18.2, 22.7, "Okay, I can see your account. The balance is one hundred dollars.")])
    assert compute_signals(tr, config).serialize()["interruptions"]["by_operator"] == 0


# --------------------------------------------------------------------------- when the script does not apply


def _analyze_transcript(tmp_path, name, turns):
    import json

    from callqa.cli import main

    (tmp_path / f"{name}.json").write_text(json.dumps({"language": "en", "turns": turns}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / f"{name}.json"), "--out", str(out), "--no-progress"]) == 0
    return json.loads((out / f"{name}.json").read_text(encoding="utf-8"))


def _script_indicators(data):
    return {i["id"]: i for i in data["indicators"] if i["id"] in ("script_compliance", "script_order")}


def test_a_wrong_number_call_gets_no_script_score_and_no_script_missing_flag(tmp_path):
    data = _analyze_transcript(tmp_path, "wrong", [
        {"speaker": "operator", "start": 0.3, "end": 2.5, "text": "Riverside Insurance, good morning."},
        {"speaker": "client", "start": 3.0, "end": 4.8, "text": "Oh, sorry, wrong number."},
        {"speaker": "operator", "start": 5.2, "end": 6.5, "text": "That is okay, bye."}])
    assert "script_missing" not in [f["id"] for f in data["flags"]]
    why = data["signals"]["script"]["not_applicable"]
    assert "wrong number" in why
    inds = _script_indicators(data)
    # not scored, and saying why (a 6 s call: indicators.min_conversation_s leaves every indicator null)
    assert inds and all(i["score"] is None and "wrong number" in (i.get("note") or "") for i in inds.values()), inds


def test_a_voicemail_left_by_the_operator_gets_no_script_score(tmp_path):
    text = ("Hello, this is Anna from Riverside Insurance calling about your policy renewal. Please call us back "
            "on the number on your letter at any time between nine and five. Thank you and have a nice day.")
    data = _analyze_transcript(tmp_path, "vm", [
        {"speaker": "operator", "start": 0.5, "end": 9.0, "text": text},
        {"speaker": "operator", "start": 10.0, "end": 24.0, "text": text}])
    assert "one-sided" in data["signals"]["script"]["not_applicable"]
    assert "script_missing" not in [f["id"] for f in data["flags"]]


def test_a_full_conversation_still_gets_its_script_checked(tmp_path):
    data = _analyze_transcript(tmp_path, "full", [
        {"speaker": "operator", "start": 0.3, "end": 3.0, "text": "Riverside Insurance, good morning."},
        {"speaker": "client", "start": 3.5, "end": 9.0, "text": "Hello, I would like to ask about my policy."},
        {"speaker": "operator", "start": 9.5, "end": 15.0, "text": "Of course. What is your policy number?"},
        {"speaker": "client", "start": 15.5, "end": 20.0, "text": "It is one two three four."},
        {"speaker": "operator", "start": 20.5, "end": 24.0, "text": "Thank you, goodbye."}])
    assert data["signals"]["script"].get("not_applicable") is None
    assert "script_missing" in [f["id"] for f in data["flags"]]  # no greeting with a name, no offer of help
    assert any(i["score"] is not None for i in _script_indicators(data).values())


def test_mono_talk_time_comes_from_the_diarizer_speech_stored_with_the_transcript(config):
    """Mono: the operator's word times end early (narrow-band ASR) and a client phrase the ASR missed has
    no words at all; the diarizer heard both. Talk time and ratio come from the stored diarized speech,
    the interruptions still from the turns; the measures survive storing (rescore decodes nothing)."""
    from callqa.pipeline.signals.measures import AudioMeasures
    from callqa.pipeline.types import Word

    op = Turn("operator", 0.0, 2.0, "Hello, how can I help?", words=(Word("Hello", 0.0, 0.5), Word("help", 1.5, 2.0)))
    cl = Turn("client", 6.0, 7.0, "My card.", words=(Word("My", 6.0, 6.4), Word("card", 6.5, 7.0)))
    tr = Transcript(turns=(op, cl), language="en", duration_s=12.0)
    words_only = compute_signals(tr, config).serialize()
    assert words_only["talk_time_s"] == {"operator": pytest.approx(2.0), "client": pytest.approx(1.0)}

    speech = {"operator": ((0.0, 4.0),), "client": ((6.0, 7.2), (7.8, 9.0)),  # 7.8-9.0: no words written
              "SPEAKER_02": ((10.0, 11.0),)}  # a voice no turn gave a role: not anyone's talk time
    m = AudioMeasures(1, (None, None), speech=speech)
    stored = AudioMeasures.from_dict(m.serialize())
    assert stored == m
    s = compute_signals(tr, config, audio=stored).serialize()
    assert s["talk_time_s"] == {"operator": pytest.approx(4.0), "client": pytest.approx(3.0)}  # 6.0-9.0 joined
    assert s["talk_ratio_operator"] == pytest.approx(4.0 / 7.0, abs=1e-3)
    assert s["words"] == words_only["words"] and s["interruptions"] == words_only["interruptions"]
    # diarized speech that names no role (the ASR wrote no words at all): the turns decide, as before
    none = AudioMeasures(1, (None, None), speech={"SPEAKER_00": ((0.0, 9.0),)})
    assert compute_signals(tr, config, audio=none).serialize()["talk_time_s"] == words_only["talk_time_s"]


def test_diarized_speech_names_each_label_by_the_role_of_its_turns():
    """The diarizer's labels take the roles the role assignment gave their turns (here the second voice
    is the operator); overlapped speech counts for both voices; a label without turns keeps its name."""
    from callqa.pipeline.signals.measures import diarized_speech
    from callqa.pipeline.speech.diarize import DiarizationResult, Overlap, SpeakerSegment

    diar = DiarizationResult(
        (SpeakerSegment(0.0, 3.0, "SPEAKER_00"), SpeakerSegment(3.0, 8.0, "SPEAKER_01"),
         SpeakerSegment(8.5, 9.0, "SPEAKER_02")),
        backend="embedded", overlaps=(Overlap(2.5, 3.0, "SPEAKER_00", "SPEAKER_01"),),
        overlap_method="embedded-windows")
    labelled = [Turn("SPEAKER_00", 0.2, 2.9, "hi my card"), Turn("SPEAKER_01", 3.1, 7.5, "thank you for calling")]
    assigned = [Turn("client", 0.2, 2.9, "hi my card"), Turn("operator", 3.1, 7.5, "thank you for calling")]
    out = diarized_speech(diar, labelled, assigned)
    assert out == {"client": ((0.0, 3.0), (2.5, 3.0)), "operator": ((2.5, 3.0), (3.0, 8.0)),
                   "SPEAKER_02": ((8.5, 9.0),)}


def test_a_client_the_channel_heard_but_the_asr_lost_keeps_the_script_applicable(config):
    """An 8 kHz stereo call whose client leg the ASR could not read (every client segment dropped as
    low confidence): the channel still heard the client for 10 s, so this is a conversation, not a
    one-sided recording -- the operator's script is checked; with the client leg silent it is one-sided."""
    from callqa.pipeline.signals.measures import AudioMeasures

    turns = (Turn("operator", 0.5, 4.0, "Riverside Insurance, good morning, this is Anna."),
             Turn("operator", 9.0, 14.0, "Let me check that for you."),
             Turn("operator", 22.0, 26.0, "Thank you for calling, goodbye."))
    tr = Transcript(turns=turns, language="en", duration_s=30.0)
    operator = ((0.5, 4.0), (9.0, 14.0), (22.0, 26.0))
    heard = AudioMeasures(2, (None, None, None), activity={"operator": operator,
                                                           "client": ((4.5, 8.5), (14.5, 21.0))})
    script = compute_signals(tr, config, audio=heard).serialize()["script"]
    assert script.get("not_applicable") is None
    silent = AudioMeasures(2, (None, None, None), activity={"operator": operator, "client": ()})
    assert "one-sided" in compute_signals(tr, config, audio=silent).serialize()["script"]["not_applicable"]


def test_the_calls_speech_without_words_counts_both_sides_and_any_turn_covers_it():
    """`signals.untranscribed`: each side's heard speech that no transcribed turn covers, of either side (a mono
    word given to the other voice is not speech lost), with the longest stretches; None unmeasured."""
    from callqa.pipeline.signals.timing import untranscribed_speech

    turns = [Turn("operator", 0.0, 4.0, "hello how can I help"), Turn("client", 5.0, 9.0, "my card is lost"),
             Turn("operator", 30.0, 31.0, "")]
    heard = {"operator": [(0.0, 4.0), (10.0, 20.0), (30.0, 31.0)], "client": [(5.0, 9.0), (3.5, 4.2), (40.0, 42.0)]}
    u = untranscribed_speech(turns, heard)
    assert u["seconds"] == pytest.approx(13.0) and u["speech_s"] == pytest.approx(21.7)
    assert u["share"] == pytest.approx(13.0 / 21.7, abs=1e-3)
    assert [(x["start"], x["end"], x["speaker"]) for x in u["spans"]] == [
        (10.0, 20.0, "operator"), (30.0, 31.0, "operator"), (40.0, 42.0, "client")]
    assert untranscribed_speech(turns, None) is None and untranscribed_speech(turns, {}) is None


def test_untranscribed_speech_is_what_the_audio_heard_a_speaker_say_without_words():
    from callqa.pipeline.signals.timing import untranscribed

    turns = [Turn("operator", 10.0, 14.0, "How can I help?"), Turn("operator", 20.0, 22.0, ""),
             Turn("client", 0.0, 9.0, "Hello, I have a question.")]
    # heard 0-8 (no operator word: the client's turn does not cover it), 10-14 (covered), 20-22 (a turn
    # without text: not covered), 30-31 (no turn)
    lost, speech = untranscribed(turns, [(0.0, 8.0), (10.0, 14.0), (20.0, 22.0), (30.0, 31.0)])
    assert speech == pytest.approx(15.0)
    assert lost == pytest.approx(8.0 + 2.0 + 1.0)
    assert untranscribed(turns, []) == (0.0, 0.0)
    # word times ending early on narrow band: speech a little past the turn's end counts as covered
    assert untranscribed(turns, [(9.8, 14.2)])[0] == pytest.approx(0.0)


def test_an_operator_whose_speech_the_asr_lost_is_not_blamed_for_missing_script_stages(config):
    """Whisper left the operator's greeting and reason for calling without words (sim2468_016: 37 % of
    the speech), and script_missing blamed the operator for a greeting they said. Where a quarter or more
    of the operator's speech (as the audio measures hear it) has no transcribed word, at least 5 s of it,
    the script does not apply: no script score, no script_missing flag, and the reason says why."""
    from callqa.pipeline.signals.measures import AudioMeasures

    tr = call([
        ("client", 0.5, 2.0, "Michael speaking."),
        ("operator", 9.0, 12.0, "Am I speaking with Michael Green?"),
        ("client", 12.5, 15.0, "Speaking. What is it about?"),
        ("operator", 21.0, 25.0, "I have made a note on your account, so it is all sorted now."),
        ("client", 25.5, 27.0, "Okay, thanks. Bye.")], duration=28.0)
    said = {"operator": ((2.7, 12.0), (15.5, 25.0)), "client": ((0.5, 2.0), (12.5, 15.0), (25.5, 27.0))}
    for layout in (AudioMeasures(2, (None,) * 5, activity=said), AudioMeasures(1, (None,) * 5, speech=said)):
        why = compute_signals(tr, config, audio=layout).serialize()["script"]["not_applicable"]
        assert why and "11 s of the operator's 19 s of speech have no transcribed word" in why, why
    # The speech the audio heard is the speech transcribed: the script is checked as before.
    heard = {"operator": ((9.0, 12.0), (21.0, 25.0)), "client": said["client"]}
    assert compute_signals(tr, config, audio=AudioMeasures(2, (None,) * 5, activity=heard)
                           ).serialize()["script"].get("not_applicable") is None
    # Under the share, or fewer seconds than min_untranscribed_s: checked as before.
    few = {"operator": ((7.0, 12.0), (21.0, 25.0)), "client": said["client"]}  # 2 s of 9 s lost
    assert compute_signals(tr, config, audio=AudioMeasures(2, (None,) * 5, activity=few)
                           ).serialize()["script"].get("not_applicable") is None
    off = load_config(overrides={"signals": {"compliance": {"max_untranscribed_share": 1.0}}})
    assert compute_signals(tr, off, audio=AudioMeasures(2, (None,) * 5, activity=said)
                           ).serialize()["script"].get("not_applicable") is None
