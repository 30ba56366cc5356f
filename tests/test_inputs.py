"""Metadata sidecars, manifests and transcript import: values validated, errors name the file and field."""

from __future__ import annotations

import json

import pytest

from callqa.pipeline.errors import InputError
from callqa.pipeline.inputs import read_manifest, read_meta_file, read_transcript_json, sidecar_for
from callqa.pipeline.types import CallMeta, call_id_for


def _write(path, data):
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_transcript_import_roundtrip(tmp_path):
    p = _write(tmp_path / "c1.json", {"call_id": "c1", "language": "ru", "operator_id": "op-7", "role": "inbound",
                                       "turns": [{"speaker": "client", "start": 4.6, "end": 8.0, "text": "Алло"},
                                                 {"speaker": "operator", "start": 0.4, "end": 4.1, "text": "Здравствуйте"}]})
    tr, meta = read_transcript_json(p)
    assert [t.speaker for t in tr.turns] == ["operator", "client"]  # sorted by time
    assert tr.language == "ru" and tr.duration_s == pytest.approx(8.0)
    assert meta.operator_id == "op-7" and meta.call_id == "c1"


@pytest.mark.parametrize("turns, field", [
    ([{"speaker": "agent", "start": 0, "end": 1, "text": "x"}], "speaker"),
    ([{"speaker": "operator", "start": 2, "end": 1, "text": "x"}], "before start"),
    ([{"speaker": "operator", "start": "0", "end": 1, "text": "x"}], "turns[0].start"),
    ([{"speaker": "operator", "start": 0, "end": 1}], "'text'"),
])
def test_transcript_errors_name_file_and_field(tmp_path, turns, field):
    p = _write(tmp_path / "bad.json", {"turns": turns})
    with pytest.raises(InputError) as e:
        read_transcript_json(p)
    assert str(p) in str(e.value) and field in str(e.value)


def test_transcript_missing_turns_and_not_json(tmp_path):
    with pytest.raises(InputError, match="missing field 'turns'"):
        read_transcript_json(_write(tmp_path / "a.json", {"call_id": "x"}))
    bad = tmp_path / "b.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        read_transcript_json(bad)


def test_sidecar_and_meta_validation(tmp_path):
    audio = tmp_path / "call7.wav"
    audio.write_bytes(b"")
    _write(tmp_path / "call7.meta.json", {"operator_id": "op-1", "role": "outbound", "channel_map": "client,operator"})
    side = sidecar_for(audio)
    meta = read_meta_file(side)
    assert meta.role == "outbound" and meta.channel_map == ("client", "operator")
    _write(tmp_path / "bad.meta.json", {"role": "sales"})
    with pytest.raises(InputError, match="role"):
        read_meta_file(tmp_path / "bad.meta.json")


def test_manifest_rows(tmp_path):
    m = tmp_path / "manifest.csv"
    m.write_text("file,call_id,operator_id,language,direction\na.wav,A1,op-1,ru,inbound\nb.wav,,op-2,en,outbound\n",
                 encoding="utf-8")
    rows = read_manifest(m)
    assert rows["a.wav"].call_id == "A1" and rows["a.wav"].language == "ru"
    assert rows["b.wav"].direction == "outbound" and rows["b.wav"].call_id is None
    m.write_text("file,language\nc.wav,french?\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 2"):
        read_manifest(m)


def test_call_id_from_meta_else_file_name(tmp_path):
    assert call_id_for(tmp_path / "x" / "rec_01.flac", None) == "rec_01"
    assert call_id_for(tmp_path / "rec_01.flac", CallMeta(call_id="C-9")) == "C-9"
    assert CallMeta(operator_id="a").merged(CallMeta(team="t")).operator_id == "a"


@pytest.mark.parametrize("value", ["yesterday", "2026-02-30T10:00:00", "20.11.2026", "2026-11-20 25:00"])
def test_a_start_time_reports_cannot_read_is_refused_naming_the_field(tmp_path, value):
    """Reports, trends, sampling and search group calls by `started_at`: a value they cannot read
    used to be stored as given and the call then fell out of all of them without a word."""
    _write(tmp_path / "c.meta.json", {"started_at": value})
    with pytest.raises(InputError, match=r"started_at.*ISO 8601") as e:
        read_meta_file(tmp_path / "c.meta.json")
    assert "c.meta.json" in str(e.value)


def test_iso_start_times_are_accepted_also_unquoted_in_yaml(tmp_path):
    for value in ("2026-11-20T14:05:00", "2026-11-20", "2026-11-20T14:05:00+03:00", "2026-11-20T11:05:00Z"):
        _write(tmp_path / "ok.meta.json", {"started_at": value})
        assert read_meta_file(tmp_path / "ok.meta.json").started_at == value
    (tmp_path / "y.meta.yaml").write_text("started_at: 2026-11-20T14:05:00\n", encoding="utf-8")
    assert read_meta_file(tmp_path / "y.meta.yaml").started_at == "2026-11-20T14:05:00"


def test_times_exported_in_milliseconds_are_refused_not_read_as_a_year_long_call(tmp_path):
    turns = [{"speaker": "operator", "start": 400, "end": 4100, "text": "Здравствуйте"},
             {"speaker": "client", "start": 4600, "end": 8_000_000, "text": "Алло"}]
    with pytest.raises(InputError, match=r"times must be in seconds") as e:
        read_transcript_json(_write(tmp_path / "ms.json", {"turns": turns}))
    assert "ms.json" in str(e.value)
    long_day = [{"speaker": "operator", "start": 0, "end": 5 * 3600, "text": "x"}]  # 5 h: long, but seconds
    assert read_transcript_json(_write(tmp_path / "s.json", {"turns": long_day}))[0].duration_s == 5 * 3600
