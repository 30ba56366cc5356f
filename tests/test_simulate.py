"""The call simulator (sample_calls/simulate.py): reproducible, varied, truth that matches
its audio; and the real pipeline on a few simulated calls never crashes and its results
serialize with plain `json.dumps`."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_calls"))

import simulate  # noqa: E402

N = 12  # enough to cover every audio profile and call shape of the cycle


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    truths = simulate.generate(out, n=N, seed=3)
    return out, truths


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_the_same_calls_and_a_small_corpus_is_the_start_of_a_larger_one(corpus, tmp_path):
    out, truths = corpus
    again = simulate.generate(tmp_path, n=3, seed=3)  # includes a Piper call (index 2)
    assert any(t["voices"].get(r, "").startswith("piper") for t in again for r in ("operator", "client"))
    for a, b in zip(truths[:3], again):
        assert a == b
        assert _sha(out / a["source"]) == _sha(tmp_path / b["source"]) == a["audio_sha256"]
    other = simulate.generate(tmp_path / "other", n=1, seed=4)[0]
    assert [t["text"] for t in other["turns"]] != [t["text"] for t in truths[0]["turns"]]


def test_the_corpus_has_the_declared_variety(corpus):
    _, truths = corpus
    assert {t["sample_rate"] for t in truths} == {8000, 16000}
    assert {"mulaw", "alaw", "gsm", "mp3", "pcm"} <= {t["codec"] for t in truths}
    assert {t["channels"] for t in truths} == {1, 2}
    assert any(t["channels"] == 1 and t["sample_rate"] == 8000 for t in truths)
    one_sided = [t for t in truths if t["tags"].get("one_sided")]
    assert one_sided and all(t["num_speakers"] == 1 and len({x["role"] for x in t["turns"]}) == 1
                             for t in one_sided)
    client_first = [t for t in truths if t["tags"].get("client_first")]
    assert client_first and all(t["turns"][0]["role"] == "client" for t in client_first)
    assert any(t["tags"].get("operator_greets") is False for t in truths)
    assert {i["by"] for t in truths for i in t["interruptions"]} == {"operator", "client"}
    # quick replies: the other side starts within a quarter second of the end of a turn, without overlap
    replies = [b["start"] - a["end"] for t in truths for a, b in zip(t["turns"], t["turns"][1:])
               if a["role"] != b["role"]]
    assert any(0.0 < g < 0.25 for g in replies) and any(g > 0.25 for g in replies)
    assert len({v.split("@")[0] for t in truths for v in t["voices"].values()}) >= 8
    assert sum(len(t["planted"].get("fillers", [])) for t in truths) >= 5


def test_truth_times_match_the_audio(corpus):
    """Speech where the truth says a turn is, near-silence in the long gaps between turns;
    interruptions really overlap; word times lie inside their turn."""
    out, truths = corpus
    for t in truths:
        from callqa.pipeline.speech.decode import load_audio
        from callqa.pipeline.config import load_config

        audio = load_audio(out / t["source"], load_config())
        x = np.asarray(audio.mono(), dtype=np.float64)
        rate = audio.sample_rate
        assert abs(len(x) / rate - t["duration_s"]) < 0.2, t["call_id"]
        turns = t["turns"]
        inside = np.zeros(len(x), dtype=bool)
        for turn in turns:
            inside[int(turn["start"] * rate):int(turn["end"] * rate)] = True
            for w in turn["words"]:
                if w["start"] is not None:
                    assert turn["start"] - 1e-3 <= w["start"] <= w["end"] <= turn["end"] + 1e-3, t["call_id"]
        gaps = np.zeros(len(x), dtype=bool)
        speech = sorted((turn["start"], turn["end"]) for turn in turns)
        edges = [(0.0, speech[0][0])] + [(a[1], b[0]) for a, b in zip(speech, speech[1:])] + \
            [(max(e for _, e in speech), t["duration_s"])]
        for s, e in edges:
            if e - s > 0.5:
                gaps[int((s + 0.15) * rate):int((e - 0.15) * rate)] = True
        gaps &= ~inside
        assert gaps.any(), t["call_id"]
        speech_power = float(np.mean(x[inside] ** 2))
        gap_power = float(np.mean(x[gaps] ** 2))
        assert speech_power > 10 * gap_power, (t["call_id"], speech_power, gap_power)  # SNR is >= 15 dB
        for turn in turns:  # and each turn on its own is speech, not silence the truth mislabels
            seg = x[int(turn["start"] * rate):int(turn["end"] * rate)]
            assert float(np.mean(seg ** 2)) > 5 * gap_power, (t["call_id"], turn["text"])
        for i in t["interruptions"]:
            a, b = turns[i["turn"]], [u for u in turns if u["role"] == i["interrupted"]]
            assert any(u["start"] < a["start"] < u["end"] for u in b), t["call_id"]
        assert t["expected"]["interruptions"]["by_operator"] + t["expected"]["interruptions"]["by_client"] == \
            len(t["interruptions"])


def test_planted_phrases_are_in_their_turns(corpus):
    _, truths = corpus
    for t in truths:
        for kind, items in t["planted"].items():
            if kind == "script_stages":
                continue
            for item in items:
                turn = t["turns"][item["turn"]]
                assert item["text"].lower() in turn["text"].lower(), (t["call_id"], kind, item)
                assert item["speaker"] == turn["role"]


# Calls of corpus seed 0 on which the code before issue 9 crashed with "Object of type bool is
# not JSON serializable" (a numpy bool in signals.script.stages[].in_order): an 8 kHz mono
# GSM call and a 16 kHz mono one, both outbound; and a one-sided 8 kHz voicemail.
KNOWN_CRASHERS = {"8k mono (crashed before)": 27, "16k mono (crashed before)": 50, "one-sided 8k": 3}


@pytest.mark.slow
def test_the_pipeline_survives_simulated_calls_and_every_result_serializes(corpus, tmp_path):
    """8 kHz mono, one-sided, Piper, stereo with overlaps: `process_call` as `callqa analyze`
    runs it; each result goes through plain `json.dumps` (no numpy types, no default=)."""
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import process_call

    out, truths = corpus
    config = load_config(out / "config.yaml")
    chosen = {}
    for what, index in KNOWN_CRASHERS.items():
        chosen[what] = (tmp_path, simulate.generate(tmp_path, n=1, seed=0, start=index)[0])
    for t in truths:
        if any(v.startswith("piper") for v in t["voices"].values()):
            chosen.setdefault("piper", (out, t))
        if t["channels"] == 2 and t["interruptions"]:
            chosen.setdefault("stereo overlap", (out, t))
    assert len(chosen) == 5 and chosen["8k mono (crashed before)"][1]["sample_rate"] == 8000
    assert chosen["one-sided 8k"][1]["num_speakers"] == 1
    for what, (folder, t) in chosen.items():
        result = process_call(folder / t["source"], config)
        text = json.dumps(result.serialize())
        data = json.loads(text)
        assert data["call_id"] == t["call_id"], what
        assert data["duration_s"] == pytest.approx(t["duration_s"], abs=0.2), what
        assert data["transcript"]["turns"], what
        # Issue 10: on calls nobody here wrote, no indicator is scored without evidence (talk ratio and
        # speech rate excepted) and no competency is scored from absences alone.
        ind = {i["id"]: i for i in data["indicators"]}
        bare = [i for i, d in ind.items() if d["score"] is not None and not d["evidence"]
                and i not in ("talk_ratio", "speech_rate")]
        assert bare == [], (what, bare)
        for c in data["competencies"]:
            if c["score"] is not None:
                assert any(ind[i]["evidence"] and not ind[i].get("absence") for i in c["indicators"]), (what, c)


def test_nobody_says_two_turns_at_once(tmp_path):
    """A speaker who interrupts a turn that itself came in early starts after their own previous
    turn and a breath: the truth never has one voice saying two things at the same moment.
    Corpus seed 3141's call 36 had the client's interruption start 0.4 s inside the client's
    own previous turn."""
    t = simulate.generate(tmp_path, n=1, seed=3141, start=36)[0]
    for role in ("operator", "client"):
        own = sorted((u["start"], u["end"]) for u in t["turns"] if u["role"] == role)
        for (_, end), (start, _) in zip(own, own[1:]):
            assert start >= end + 0.15, (role, end, start)
    assert sorted(i["by"] for i in t["interruptions"]) == ["client", "operator"]  # still interrupted


def test_every_language_has_the_same_wording_entries_with_as_many_options():
    """The seeded choices of a call are the same in every language, so each language needs the
    same entries, with as many options, naming the same things in its templates; and a Russian
    call is written in Russian, not English text read by a Russian voice."""
    import re
    import string

    from wording import WORDING

    def fields(text):
        return sorted({f for _, f, _, _ in string.Formatter().parse(text) if f})

    def same_shape(a, b, where):
        assert type(a) is type(b), where
        if isinstance(a, dict):
            assert set(a) == set(b), where
            for k in a:
                same_shape(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, (tuple, list)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same_shape(x, y, f"{where}[{i}]")
        elif isinstance(a, str):
            assert fields(a) == fields(b), (where, a, b)

    def strings(x):
        if isinstance(x, str):
            yield x
        elif isinstance(x, dict):
            for v in x.values():
                yield from strings(v)
        elif isinstance(x, (tuple, list)):
            for v in x:
                yield from strings(v)

    en = WORDING["en"]
    for language, w in WORDING.items():
        assert set(w) == set(en), language
        for key in en:
            if key not in ("espeak",):  # the voices are the language's own, as many as espeak-ng has
                same_shape(en[key], w[key], f"{language}.{key}")
        assert w["espeak"], language
    latin = [s for k, v in WORDING["ru"].items() if k != "espeak" for s in strings(v)
             if s not in ("operator", "client") and re.search(r"[A-Za-z]{2,}", re.sub(r"\{\w+\}", "", s))]
    assert latin == []


def test_a_russian_corpus_is_written_in_russian_with_russian_voices(tmp_path):
    import re

    truths = simulate.generate(tmp_path, n=3, seed=5, language="ru")
    assert [t["call_id"] for t in truths] == ["sim5_ru_000", "sim5_ru_001", "sim5_ru_002"]
    english = simulate.generate(tmp_path / "en", n=3, seed=5)
    for t, e in zip(truths, english):
        assert t["language"] == "ru"
        text = " ".join(u["text"] for u in t["turns"])
        assert re.search(r"[а-яё]{3,}", text, re.I) and not re.search(r"[A-Za-z]{2,}", text), text
        assert all(re.match(r"espeak:(ru|ru-lv)\+", v) for v in t["voices"].values()), t["voices"]
        # the same seeded shape as the English call of the same seed and index
        assert [u["role"] for u in t["turns"]] == [u["role"] for u in e["turns"]]
        assert t["tags"] == e["tags"] and t["channels"] == e["channels"] and t["codec"] == e["codec"]
    assert "Северный Банк" in (tmp_path / "config.yaml").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="no wording for language 'xx'"):
        simulate.plan_call(5, 0, "xx")


def test_strong_echo_is_the_same_call_with_the_operator_back_late_on_the_client_channel(corpus, tmp_path):
    """`--echo strong` changes nothing but the client channel of stereo calls: there the operator's voice
    comes back as drawn (6-14 dB down, 20-300 ms late, band-limited), and the truth says so; mono calls
    are the seed's calls byte for byte."""
    out, truths = corpus
    echoed = simulate.generate(tmp_path, n=2, seed=3, echo="strong")
    assert json.loads((tmp_path / "corpus.json").read_text())["echo"] == "strong"
    assert {t["channels"] for t in echoed} == {1, 2}
    for plain, t in zip(truths[:2], echoed):
        assert {k: v for k, v in t.items() if k not in ("echo", "audio_sha256")} == \
            {k: v for k, v in plain.items() if k not in ("echo", "audio_sha256")}
        if t["channels"] == 1:
            assert t["echo"] is None and t["audio_sha256"] == plain["audio_sha256"]
        else:
            e = t["echo"]
            assert -14.0 <= e["level_db"] <= -6.0 and 20.0 <= e["delay_ms"] <= 300.0
            assert t["audio_sha256"] != plain["audio_sha256"]
    rate = 16000
    x = np.random.default_rng(0).standard_normal(rate * 2)
    echo = {"level_db": -10.0, "delay_ms": 150.0, "reflections": [[12.0, -6.0]]}
    y = simulate._echo_of(x, echo, rate)
    lag = int(0.15 * rate)
    assert not y[:lag].any() and y[lag:].any()
    assert abs(10 * np.log10(np.mean(y[lag:] ** 2) / np.mean(x ** 2)) - (-10.0)) < 0.5
    spec = np.abs(np.fft.rfft(y))
    f = np.fft.rfftfreq(y.size, 1 / rate)
    assert spec[f < 150].mean() < 0.1 * spec[(f > 500) & (f < 3000)].mean()  # the telephone band


def test_keypad_is_the_same_call_with_digits_keyed_into_its_pauses(corpus, tmp_path):
    """`--keypad` changes nothing but the audio where the client keys digits: 4-12 DTMF digits into each of
    the two longest pauses between turns, which the truth lists and callqa's tone detector finds (the client
    channel of a 16 kHz stereo wav call, an 8 kHz mu-law mono call)."""
    from callqa.pipeline.config import load_config
    from callqa.pipeline.speech.decode import load_audio
    from callqa.pipeline.speech.tones import find_tones

    out, truths = corpus
    keyed = simulate.generate(tmp_path, n=2, seed=3, keypad=True)
    assert json.loads((tmp_path / "corpus.json").read_text())["keypad"] is True
    as_is = load_config(overrides={"audio": {"silence_tones": False}})
    for plain, t in zip(truths[:2], keyed):
        assert {k: v for k, v in t.items() if k not in ("keypad", "audio_sha256")} == \
            {k: v for k, v in plain.items() if k not in ("keypad", "audio_sha256")}
        assert plain["keypad"] is None and 4 <= len(t["keypad"]) <= 24
        assert t["audio_sha256"] != plain["audio_sha256"]
        for k in t["keypad"]:
            assert not any(u["start"] < k["end"] and k["start"] < u["end"] for u in t["turns"])
        audio = load_audio(tmp_path / t["source"], as_is)
        found = [x for c in range(audio.channels) for x in find_tones(audio.channel(c), audio.rate)]
        assert all(x.kind == "dtmf" for x in found)
        assert all(any(x.start - 0.03 <= k["start"] and k["end"] <= x.end + 0.03 for x in found) for k in t["keypad"])


def test_a_spoiling_recorder_is_the_same_call_clipped_or_with_a_quiet_client(corpus, tmp_path):
    """`--recorder` changes nothing but the audio: `clipped` drives each call into hard clipping, `quiet-client`
    keeps the client 12 dB down: on a 16 kHz stereo call the client's leg (the operator's leg, with the
    client's bleed on it, as it was), on an 8 kHz mu-law mono call the client's voice (the operator's
    turns and the line noise as they were)."""
    import soundfile as sf

    out, truths = corpus
    plain = truths[:2]
    assert [(t["channels"], t["codec"]) for t in plain] == [(2, "pcm"), (1, "mulaw")]
    for recorder in ("clipped", "quiet-client"):
        made = simulate.generate(tmp_path / recorder, n=2, seed=3, recorder=recorder)
        assert json.loads((tmp_path / recorder / "corpus.json").read_text())["recorder"] == recorder
        for p, t in zip(plain, made):
            assert {k: v for k, v in t.items() if k not in ("recorder", "audio_sha256")} == \
                {k: v for k, v in p.items() if k not in ("recorder", "audio_sha256")}
            assert p["recorder"] is None and t["recorder"]["kind"] == recorder
            assert t["audio_sha256"] != p["audio_sha256"]
    clipped = [sf.read(tmp_path / "clipped" / t["source"], always_2d=True)[0] for t in plain]
    for x in clipped:  # ~1 % of the samples at full scale (mu-law's loudest code is 0.98 of it)
        assert np.mean(np.abs(x) >= 0.97) > 0.004

    def level(x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(x ** 2)))

    quiet = tmp_path / "quiet-client"
    (before, _), (after, _) = (sf.read(d / plain[0]["source"], always_2d=True) for d in (out, quiet))
    client = plain[0]["meta"]["channel_map"].index("client")
    assert level(before[:, client]) - level(after[:, client]) == pytest.approx(12.0, abs=0.1)
    assert np.array_equal(before[:, 1 - client], after[:, 1 - client])
    (before, rate), (after, _) = (sf.read(d / plain[1]["source"]) for d in (out, quiet))
    inside = np.zeros(before.size, dtype=bool)
    for turn in plain[1]["turns"]:
        if turn["role"] == "client":
            inside[int(turn["start"] * rate):int(turn["end"] * rate) + 1] = True
    assert np.array_equal(before[~inside], after[~inside])
    assert level(before[inside]) - level(after[inside]) > 6.0


def test_more_requests_make_long_calls_of_one_client_with_several_topics():
    """`--requests N`: real calls last minutes, not seconds. Each dialogue gets N more requests of the
    same client, each after the operator asks whether there is anything else, before the call's own
    closing; the names, company and voices stay the call's; one-sided calls stay as they are."""
    for language in ("en", "ru"):
        for i in (0, 1, 2, 6):  # operator greets, client first, operator bare, outbound or not
            one = simulate.plan_call(4, i, language)
            more = simulate.plan_call(4, i, language, requests=3)
            assert more.call_id != one.call_id and "_x4_" in more.call_id
            topics = more.tags["more_requests"]
            assert len(topics) == 3 and len(set(topics)) == 3 and "outbound" not in topics
            assert more.tags["topic"] not in topics  # the first request is not raised again
            asks = [k for k, t in enumerate(more.turns) if "further_help" in t.plant.get("stages", ())]
            assert len(asks) == len([t for t in one.turns if "further_help" in t.plant.get("stages", ())]) + 3
            assert all(more.turns[k + 1].role == "client" for k in asks[:3])  # the client raises the next one
            assert [t.role for t in more.turns[:3]] == [t.role for t in one.turns[:3]]  # the same opening
            last, was = more.turns[-1], one.turns[-1]  # the call's own closing stays last
            assert (last.role, last.plant.get("stages")) == (was.role, was.plant.get("stages"))
            assert len(more.turns) >= len(one.turns) + 3 * 4
            assert {r: s.label for r, s in more.speakers.items()}.keys() == {"operator", "client"}
            assert more.company == one.company
    voicemail = next(i for i in range(20) if simulate.plan_call(4, i).tags.get("one_sided"))
    assert [t.text for t in simulate.plan_call(4, voicemail, requests=3).turns] == \
        [t.text for t in simulate.plan_call(4, voicemail).turns]
