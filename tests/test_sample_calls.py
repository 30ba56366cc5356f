"""The sample calls (sample_calls/) and their ground truth agree with each other:
truth files are consistent, recordings match the truth's format and timing,
transcripts carry the truth's text, planted items sit where the truth says, and
regenerating a call reproduces its truth."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callqa.pipeline.inputs import read_meta_file, read_transcript_json

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_calls"
TRUTHS = sorted((SAMPLES / "truth").glob("*.json"))
# Words the brief lists as fillers; an operator turn may hold one only where the truth plants
# it or where a planted trap covers it ("I would like", "вот ваш номер").
FILLER_WORDS = {
    "en": ["um", "uh", "like", "you know", "basically", "i mean", "sort of", "kind of"],
    "ru": ["ну", "вот", "как бы", "типа", "короче", "это самое", "значит", "в общем"],
}
SPEECH_THRESHOLD = 10 ** (-45 / 20)  # the generator trims each utterance to samples above this
NOISE = 10 ** (-60 / 20)  # line noise (-80 dBFS RMS) and 16-bit rounding move samples by less than this


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _synth():
    """sample_calls/synthesize.py (a script, not a package module)."""
    name = "sample_calls_synthesize"
    spec = importlib.util.spec_from_file_location(name, SAMPLES / "synthesize.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod


def _occurrences(text: str, phrase: str) -> list[int]:
    return [m.start() for m in re.finditer(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", text.lower())]


@pytest.fixture(scope="module")
def truths() -> dict[str, dict]:
    if not TRUTHS:
        pytest.fail("sample_calls/truth/ is empty: run .venv/bin/python sample_calls/synthesize.py")
    return {p.stem: _load(p) for p in TRUTHS}


def test_the_promised_calls_exist(truths):
    audio = [t for t in truths.values() if t["kind"] == "audio"]
    assert {t["language"] for t in audio} == {"en", "ru"}
    en_audio = [t for t in audio if t["language"] == "en"]
    assert {t["channels"] for t in en_audio} == {1, 2}
    assert 8000 in {t["sample_rate"] for t in en_audio} and 16000 in {t["sample_rate"] for t in en_audio}
    assert {"wav", "flac", "ogg", "mp3"} <= {t["format"] for t in audio}
    assert any(t["expected"]["longest_silence_s"] >= 20 for t in en_audio), "a call with a long hold"
    ru_tx = [t for t in truths.values() if t["kind"] == "transcript" and t["language"] == "ru"]
    assert {t["expected"]["quality"] for t in ru_tx} >= {"good", "bad", "difficult_calm"}
    for t in truths.values():
        assert 40 <= t["duration_s"] <= 95, (t["call_id"], t["duration_s"])
    size = sum(p.stat().st_size for d in ("audio", "ru_audio") for p in (SAMPLES / d).iterdir())
    assert size < 15e6


def test_call_ids_are_unique_across_audio_and_transcripts(truths):
    stems = [p.name.split(".")[0] for d in ("audio", "ru_audio") for p in (SAMPLES / d).iterdir()
             if not p.name.endswith(".meta.json")]
    stems += [p.stem for p in (SAMPLES / "transcripts").glob("*.json")]
    assert len(stems) == len(set(stems))
    assert sorted(stems) == sorted(truths)


@pytest.mark.parametrize("path", TRUTHS, ids=[p.stem for p in TRUTHS])
def test_truth_is_consistent(path):
    synth = _synth()
    t = _load(path)
    assert t["call_id"] == path.stem
    turns = t["turns"]
    assert turns, "a call without turns"
    assert [x["start"] for x in turns] == sorted(x["start"] for x in turns)
    for x in turns:
        assert x["speaker"] in ("operator", "client")
        assert 0 <= x["start"] < x["end"] <= t["duration_s"]
        assert x["text"].strip()
    # The timing expectations follow from the turn times.
    recomputed = synth.expected_timing(turns)
    for key, value in recomputed.items():
        assert t["expected"][key] == value, key
    # Hand-checked definitions (README): ratio of union talk times, silence = gaps in the union.
    op = sum(x["end"] - x["start"] for x in turns if x["speaker"] == "operator")
    cl = sum(x["end"] - x["start"] for x in turns if x["speaker"] == "client")
    if t["expected"]["overlap_s"] == 0:
        assert t["expected"]["talk_ratio_operator"] == pytest.approx(op / (op + cl), abs=1e-4)
        gaps = [b["start"] - a["end"] for a, b in zip(turns, turns[1:])]
        assert t["expected"]["silence_s"] == pytest.approx(sum(gaps), abs=1e-3)
        assert t["expected"]["longest_silence_s"] == pytest.approx(max(gaps), abs=1e-3)
    exp = t["expected"]
    assert isinstance(exp["difficult"], bool)
    assert exp["client_end_sentiment"] in ("positive", "negative", "neutral")
    assert exp["quality"] in ("good", "bad", "difficult_calm")
    planted = t["planted"]
    assert exp["filler_count_operator"] == sum(1 for f in planted.get("fillers", []) if f["speaker"] == "operator")
    assert exp["forbidden_count"] == len(planted.get("forbidden", []))
    assert exp["escalation_count"] == len(planted.get("escalation", []))
    stages = {s["id"] for s in planted["script_stages"]}
    assert stages <= set(t["script"])
    assert sorted(exp["script_stages_missing"]) == sorted(set(t["script"]) - stages)


@pytest.mark.parametrize("path", TRUTHS, ids=[p.stem for p in TRUTHS])
def test_planted_items_are_in_their_turns(path):
    t = _load(path)
    turns = t["turns"]
    for kind, items in t["planted"].items():
        for item in items:
            turn = turns[item["turn"]]
            if kind == "script_stages":
                assert item["start"] == turn["start"]
                continue
            assert item["text"] in turn["text"], (kind, item)
            assert item["speaker"] == turn["speaker"]
            if "start" in item:
                assert turn["start"] - 1e-3 <= item["start"] < item["end"] <= turn["end"] + 1e-3
    for f in t["planted"].get("fillers", []):
        assert f["speaker"] == "operator"
    for e in t["planted"].get("escalation", []):
        assert e["speaker"] == "client"
    # Every filler word in operator speech is planted or covered by a trap: counts are exact.
    for i, turn in enumerate(turns):
        if turn["speaker"] != "operator":
            continue
        planted = [f["text"].lower() for f in t["planted"].get("fillers", []) if f["turn"] == i]
        traps = [x["text"] for x in t["planted"].get("traps", []) if x["turn"] == i]
        for word in FILLER_WORDS[t["language"]]:
            found = [pos for pos in _occurrences(turn["text"], word)
                     if not any(0 <= pos - turn["text"].find(tr) < len(tr) for tr in traps)]
            assert len(found) == planted.count(word), (i, word, turn["text"])


def test_bad_and_good_calls_plant_what_the_brief_asks(truths):
    for lang in ("en", "ru"):
        bad = next(t for t in truths.values() if t["language"] == lang and t["expected"]["quality"] == "bad")
        assert bad["expected"]["filler_count_operator"] >= 10
        assert {f["id"] for f in bad["planted"]["forbidden"]} >= {"dont_know", "not_my_job", "calm_down"}
        assert {e["id"] for e in bad["planted"]["escalation"]} >= {"manager", "complaint"}
        assert {tr["kind"] for tr in bad["planted"]["traps"]} == {"forbidden", "fillers"}
        assert bad["expected"]["interruptions"]["by_operator"] >= 2
        assert bad["expected"]["client_end_sentiment"] == "negative" and bad["expected"]["difficult"]
        good = next(t for t in truths.values() if t["language"] == lang and t["expected"]["quality"] == "good")
        assert good["expected"]["script_stages_missing"] == []
        assert good["expected"]["interruptions"] == {"by_operator": 0, "by_client": 0}
        calm = next(t for t in truths.values() if t["language"] == lang and t["expected"]["quality"] == "difficult_calm")
        assert calm["expected"]["difficult"] and calm["expected"]["interruptions"]["by_operator"] == 0
        assert (calm["expected"]["client_start_sentiment"], calm["expected"]["client_end_sentiment"]) == \
            ("negative", "positive")


AUDIO_TRUTHS = [p for p in TRUTHS if _load(p)["kind"] == "audio"]


@pytest.mark.parametrize("path", AUDIO_TRUTHS, ids=[p.stem for p in AUDIO_TRUTHS])
def test_recording_matches_truth(path):
    t = _load(path)
    audio = SAMPLES / t["source"]
    assert audio.is_file()
    assert audio.parent.name == ("audio" if t["language"] == "en" else "ru_audio")
    assert audio.suffix == "." + t["format"]
    info = sf.info(str(audio))
    assert info.samplerate == t["sample_rate"]
    assert info.channels == t["channels"]
    assert info.frames / info.samplerate == pytest.approx(t["duration_s"], abs=1e-3)
    meta = read_meta_file(audio.with_name(f"{t['call_id']}.meta.json"))
    assert meta.call_id == t["call_id"] and meta.language == t["language"]
    assert meta.operator_id == t["meta"]["operator_id"] and meta.role == t["meta"]["role"]
    if t["channels"] == 2:
        assert list(meta.channel_map) == t["meta"]["channel_map"]
    if t["format"] not in ("wav", "flac"):
        return
    # Lossless: speech starts and ends exactly at the truth's samples.
    x, rate = sf.read(str(audio), always_2d=True, dtype="float32")
    cmap = t["meta"].get("channel_map", ["operator", "client"])
    for i, turn in enumerate(t["turns"]):
        ch = cmap.index(turn["speaker"]) if t["channels"] == 2 else 0
        s, e = round(turn["start"] * rate), round(turn["end"] * rate)
        y = np.abs(x[:, ch])
        assert y[s] > SPEECH_THRESHOLD - NOISE and y[e - 1] > SPEECH_THRESHOLD - NOISE, i
        others = [o for o in t["turns"] if o is not turn and (t["channels"] == 1 or o["speaker"] == turn["speaker"])]
        if not any(o["start"] - 0.02 < turn["start"] < o["end"] + 0.02 for o in others):
            assert y[s - int(0.02 * rate):s].max() <= SPEECH_THRESHOLD + NOISE, i
        if not any(o["start"] - 0.02 < turn["end"] < o["end"] + 0.02 for o in others):
            assert y[e:e + int(0.02 * rate)].max() <= SPEECH_THRESHOLD + NOISE, i
    # Between turns there is only line noise.
    speech = _synth()._union([(o["start"], o["end"]) for o in t["turns"]])
    for (_, a), (b, _) in zip(speech, speech[1:]):
        assert np.abs(x[round(a * rate) + 1:round(b * rate) - 1]).max() <= SPEECH_THRESHOLD + NOISE


TX_TRUTHS = [p for p in TRUTHS if _load(p)["kind"] == "transcript"]


@pytest.mark.parametrize("path", TX_TRUTHS, ids=[p.stem for p in TX_TRUTHS])
def test_transcript_matches_truth(path):
    t = _load(path)
    src = SAMPLES / t["source"]
    transcript, meta = read_transcript_json(src)  # the pipeline's own reader accepts it
    assert meta.call_id == t["call_id"] and meta.language == t["language"] == transcript.language
    assert meta.operator_id == t["meta"]["operator_id"] and meta.role == t["meta"]["role"]
    assert transcript.duration_s == pytest.approx(t["duration_s"], abs=1e-6)
    assert [(x.speaker, x.text) for x in transcript.turns] == [(x["speaker"], x["text"]) for x in t["turns"]]
    for x, y in zip(transcript.turns, t["turns"]):
        assert (x.start, x.end) == pytest.approx((y["start"], y["end"]), abs=1e-6)
        assert " ".join(w.text for w in x.words) == x.text
        starts = [w.start for w in x.words]
        assert starts == sorted(starts)
        assert all(x.start - 1e-3 <= w.start <= w.end <= x.end + 1e-3 for w in x.words)
    if "same_call_as" in t:
        twin = _load(SAMPLES / "truth" / f"{t['same_call_as']}.json")
        assert twin["turns"] == t["turns"] and twin["planted"] == t["planted"]


def test_sample_config_loads_over_the_defaults():
    from callqa.pipeline.config import load_config

    config = load_config(SAMPLES / "config.yaml")
    company = config.section("company")
    names = " ".join(company.names)
    for t in (_load(p) for p in TRUTHS):
        for c in t["planted"].get("company", []):
            assert c["text"] in names
    assert company.glossary["en"] and company.glossary["ru"]


@pytest.mark.slow
def test_regenerating_a_call_reproduces_its_truth(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    synth = _synth()
    sc = synth.load_scenario(SAMPLES / "scenarios" / "en_mono_inbound.yaml")
    truths = synth.build_call(sc, tmp_path)
    assert list(truths) == [sc.call_id]
    committed = _load(SAMPLES / "truth" / f"{sc.call_id}.json")
    assert _load(tmp_path / "truth" / f"{sc.call_id}.json") == committed
    # Same samples too (WAV: same bytes).
    assert (tmp_path / committed["source"]).read_bytes() == (SAMPLES / committed["source"]).read_bytes()


def test_scenario_errors_name_the_file_and_problem(tmp_path):
    synth = _synth()
    bad = tmp_path / "bad.yaml"
    src = (SAMPLES / "scenarios" / "en_mono_inbound.yaml").read_text(encoding="utf-8")
    bad.write_text(src.replace('fillers: ["Um"]', 'fillers: ["Um", "Um"]'), encoding="utf-8")
    with pytest.raises(synth.ScenarioError, match=r"bad\.yaml.*filler 'um' planted 2x, occurs 1x"):
        synth.load_scenario(bad)
    bad.write_text(src.replace('paraphrase: ["Just to confirm"]', 'paraphrase: ["So to confirm"]'), encoding="utf-8")
    with pytest.raises(synth.ScenarioError, match="'So to confirm' is not in the turn text"):
        synth.load_scenario(bad)
