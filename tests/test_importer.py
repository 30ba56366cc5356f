"""Transcript import: malformed JSON gets a clear error naming the file and the field; fuzzed input never
crashes the importer (only InputError); a good file round-trips."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callqa.pipeline.errors import InputError
from callqa.pipeline.inputs import read_transcript_json, transcript_from_mapping

GOOD = {"call_id": "c1", "language": "ru", "operator_id": "op-7", "role": "inbound",
        "turns": [{"speaker": "operator", "start": 0.4, "end": 4.1, "text": "Здравствуйте, чем могу помочь?",
                   "words": [{"text": "Здравствуйте,", "start": 0.4, "end": 1.2, "probability": 0.9},
                             {"text": "чем", "start": 1.3, "end": 1.5}]},
                  {"speaker": "client", "start": 4.6, "end": 8.0, "text": "Алло"}]}


def write(tmp_path, data, name="call.json"):
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return p


def test_good_file_round_trips(tmp_path):
    tr, meta = read_transcript_json(write(tmp_path, GOOD))
    assert [t.speaker for t in tr.turns] == ["operator", "client"]
    assert tr.turns[0].words[0].probability == pytest.approx(0.9) and len(tr.turns[0].words) == 2
    assert tr.language == "ru" and tr.duration_s == pytest.approx(8.0) and meta.operator_id == "op-7"


def turns(**over):
    t = {"speaker": "operator", "start": 0.0, "end": 1.0, "text": "hi"}
    t.update(over)
    return {"turns": [t]}


@pytest.mark.parametrize("data, field", [
    ({"call_id": "x"}, "missing field 'turns'"),
    ({"turns": []}, "'turns' is empty"),
    ({"turns": {"speaker": "operator"}}, "'turns' must be a list"),
    ([1, 2], "top level must be an object"),
    ({"turns": ["hello"]}, "turns[0] must be an object"),
    (turns(start=5.0, end=2.0), "turns[0]: end (2.0) is before start (5.0)"),
    (turns(speaker="agent"), "turns[0].speaker must be 'operator' or 'client'"),
    (turns(speaker=None), "turns[0].speaker"),
    (turns(start="0.5"), "turns[0].start must be a number, got str"),
    (turns(end=True), "turns[0].end must be a number, got bool"),
    (turns(end=-1), "turns[0].end must not be negative"),
    (turns(text=42), "turns[0].text must be a string, got int"),
    (turns(words="a b"), "turns[0].words must be a list"),
    (turns(words=[{"text": "a", "start": 1.0}]), "turns[0].words[0]: missing field 'end'"),
    (turns(words=[{"text": "a", "start": 2.0, "end": 1.0}]), "turns[0].words[0]: end (1.0) is before start"),
    (turns(words=[{"text": 5, "start": 0, "end": 1}]), "turns[0].words[0].text must be a string"),
    (turns(channel="left"), "turns[0].channel"),
    ({"turns": [{"speaker": "client", "end": 1, "text": "x"}]}, "turns[0]: missing field 'start'"),
    ({"language": "français", **turns()}, "field 'language' must be a language code"),
    ({"role": 7.5, **turns()}, "field 'role' must be a string"),
    ({"duration_s": "long", **turns()}, "duration_s must be a number"),
])
def test_malformed_transcripts_name_the_file_and_field(tmp_path, data, field):
    p = write(tmp_path, data)
    with pytest.raises(InputError) as e:
        read_transcript_json(p)
    assert str(p) in str(e.value) and field in str(e.value)


@pytest.mark.parametrize("raw, problem", [
    ("", "empty file"), ("{not json", "not valid JSON"), ("[" * 100000, "JSON"),
    ('{"turns": [{"speaker": "operator", "start": 1e999, "end": 2, "text": "x"}]}', "finite"),
    ('{"turns": [{"speaker": "operator", "start": NaN, "end": 2, "text": "x"}]}', "finite"),
    ('{"turns": [{"speaker": "operator", "start": 0, "end": 1' + "0" * 400 + ', "text": "x"}]}', "finite"),
])
def test_broken_json_is_an_input_error(tmp_path, raw, problem):
    with pytest.raises(InputError, match=problem):
        read_transcript_json(write(tmp_path, raw))


def test_not_utf8_and_lone_surrogates(tmp_path):
    p = tmp_path / "bin.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="UTF-8"):
        read_transcript_json(p)
    tr, _ = read_transcript_json(write(tmp_path, '{"turns": [{"speaker": "client", "start": 0, "end": 1, '
                                                 '"text": "bad \\ud800 text"}]}'))
    tr.turns[0].text.encode("utf-8")  # storable


def test_speaker_case_language_guess_and_text_from_words(tmp_path):
    data = {"turns": [{"speaker": " Operator ", "start": 0, "end": 2,
                       "words": [{"text": "Добрый", "start": 0, "end": 0.5}, {"text": "день", "start": 0.6, "end": 1}]}]}
    tr, meta = read_transcript_json(write(tmp_path, data))
    assert tr.turns[0].speaker == "operator" and tr.turns[0].text == "Добрый день"
    assert tr.language == "ru" and meta.language is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)

turn_like = st.fixed_dictionaries(
    {}, optional={"speaker": st.sampled_from(["operator", "client", "agent", "", 3]) | json_values,
                  "start": st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 10 ** 30) | json_values,
                  "end": st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 10 ** 30) | json_values,
                  "text": st.text(max_size=20) | json_values,
                  "words": st.lists(st.dictionaries(st.sampled_from(["text", "start", "end", "probability"]),
                                                    json_values | st.floats(0, 10), max_size=4), max_size=3)
                  | json_values,
                  "channel": json_values})

doc_like = st.fixed_dictionaries(
    {}, optional={"turns": st.lists(turn_like, max_size=4) | json_values,
                  "language": st.sampled_from(["ru", "en", "auto", "de"]) | json_values,
                  "call_id": json_values, "role": json_values, "direction": json_values,
                  "channel_map": json_values, "duration_s": json_values, "swap_roles": json_values})


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=doc_like | json_values)
def test_fuzzed_documents_never_crash_the_importer(tmp_path_factory, doc):
    path = tmp_path_factory.getbasetemp() / "fuzz.json"
    try:
        tr, meta = transcript_from_mapping(doc, path)
    except InputError as e:
        assert str(path) in str(e)
        return
    assert tr.turns and all(math.isfinite(t.start) and t.end >= t.start >= 0 for t in tr.turns)
    assert tr.language in ("ru", "en") and tr.duration_s >= max(t.end for t in tr.turns)


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_fuzzed_bytes_never_crash_the_importer(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("raw") / "x.json"
    path.write_bytes(raw)
    try:
        read_transcript_json(path)
    except InputError as e:
        assert str(path) in str(e)
