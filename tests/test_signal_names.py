"""Indicators read typed signals (pipeline/signals/view.py); the signal names a configuration
gives are checked when it is loaded, not when a call is scored."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.process import process_call
from callqa.pipeline.signals.view import LISTS, NUMBERS, SignalsView

SAMPLES = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"


def _user_config(tmp_path: Path, items: dict) -> Path:
    path = tmp_path / "customer.yaml"
    path.write_text(yaml.safe_dump({"indicators": {"items": items}}), encoding="utf-8")
    return path


@pytest.mark.parametrize("items, key, words", [
    ({"open_questions": {"source": "questions.opne"}}, "indicators.items.open_questions.source",
     ["questions.opne", "did you mean 'questions.open'"]),
    ({"filler_rate": {"evidence_from": "fillers.items"}}, "indicators.items.filler_rate.evidence_from",
     ["fillers.items", "filler_words.items"]),
    ({"speech_rate": {"source_by_language": {"ru": "syllables_per_s.operater"}}},
     "indicators.items.speech_rate.source_by_language", ["syllables_per_s.operater", "syllables_per_s.operator"]),
    ({"talk_ratio": {"source": "questions.open"}}, "indicators.items.talk_ratio.source",
     ["'questions.open' is a list of evidence items, not a number signal"]),
    ({"empathy": {"source": "sentiment.client_end"}}, "indicators.items.empathy.source",
     ["is a number signal, not a list of evidence items"]),
    ({"no_conflict_phrases": {"source": ["phrases.conflict", "phrases.confilct"]}},
     "indicators.items.no_conflict_phrases.source", ["phrases.confilct", "phrases.conflict"]),
])
def test_a_misnamed_signal_fails_at_load_naming_the_file_key_and_the_closest_name(tmp_path, items, key, words):
    path = _user_config(tmp_path, items)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.file == str(path) and e.value.key == key
    for w in words:
        assert w in e.value.problem


def test_a_counting_indicator_without_a_source_fails_at_load(tmp_path):
    path = _user_config(tmp_path, {"my_count": {"compute": "count", "scale": {"type": "linear", "zero": 0, "full": 1}}})
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.file == str(path) and "my_count" in e.value.problem and "needs 'source'" in e.value.problem


def test_a_user_indicator_on_another_named_signal_is_scored_from_it(tmp_path):
    path = _user_config(tmp_path, {"escalations_or_forbidden": {
        "compute": "count", "source": ["escalations", "forbidden_phrases"],
        "scale": {"type": "linear", "zero": 0, "full": 4}}})
    result = process_call(SAMPLES / "en_bad_inbound_tx.json", load_config(path)).serialize()
    ind = {i["id"]: i for i in result["indicators"]}["escalations_or_forbidden"]
    s = result["signals"]
    moments = {(i["start"], i["quote"]) for i in s["escalations"] + s["forbidden_phrases"]}
    assert ind["value"] == len(moments) > 0 and len(ind["evidence"]) == min(5, len(moments))


def _at(d, dotted):
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


@pytest.mark.parametrize("call", ["en_bad_inbound_tx.json", "ru_difficult_calm_tx.json"])
def test_every_named_signal_reads_the_value_the_result_records_under_that_name(call):
    signals = process_call(SAMPLES / call, load_config()).serialize()["signals"]
    view = SignalsView.of(signals)
    for name in NUMBERS:
        raw = _at(signals, name)
        assert view.number(name) == (None if raw is None else float(raw)), name
    for name in LISTS:
        raw = _at(signals, name)
        assert list(view.items(name)) == ([raw] if isinstance(raw, dict) else raw or []), name
    assert view.sentiment.client_end == signals["sentiment"]["client_end"]
    assert view.interruptions.by("operator") == [i for i in signals["interruptions"]["items"] if i["by"] == "operator"]
