"""transcript_id / analysis_id change only with the settings that change each stage."""

from callqa.pipeline.config import load_config
from callqa.pipeline.identity import call_ids

SHA = "ab" * 32


def _ids(overrides=None, meta=None):
    return call_ids(SHA, load_config(overrides=overrides), meta)


def test_web_setting_changes_neither_id():
    base = _ids()
    assert _ids({"web": {"queue_limit": 7, "default_language": "en"}}) == base
    assert _ids({"development": {"weakest": 1}}) == base


def test_script_phrase_changes_analysis_not_transcript():
    base = _ids()
    stages = [dict(st) for st in load_config().get("scripts.en.inbound")["stages"]]
    stages[0]["patterns"] = list(stages[0]["patterns"]) + ["good day to you"]
    changed = _ids({"scripts": {"en": {"inbound": {"stages": stages}}}})
    assert changed["transcript_id"] == base["transcript_id"]
    assert changed["analysis_id"] != base["analysis_id"]


def test_asr_model_changes_both():
    base = _ids()
    changed = _ids({"models": {"asr": {"model": "small"}}})
    assert changed["transcript_id"] != base["transcript_id"]
    assert changed["analysis_id"] != base["analysis_id"]


def test_metadata_channel_map_and_team():
    base = _ids(meta={"language": "ru", "team": "a"})
    assert _ids(meta={"language": "en", "team": "a"})["transcript_id"] != base["transcript_id"]
    team = _ids(meta={"language": "ru", "team": "b"})
    assert team["transcript_id"] == base["transcript_id"] and team["analysis_id"] != base["analysis_id"]
    assert _ids(meta={"language": "ru", "team": "a", "operator": "x"}) == base


def test_call_meta_dataclass_accepted():
    from callqa.pipeline.types import CallMeta

    assert _ids(meta=CallMeta(language="ru", team="a")) == _ids(meta={"language": "ru", "team": "a"})
    assert _ids(meta=CallMeta(swap_roles=True))["transcript_id"] != _ids(meta=CallMeta())["transcript_id"]


def test_call_result_carries_both_ids():
    from pathlib import Path

    from callqa.pipeline.process import process_call

    path = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts" / "en_good_inbound_tx.json"
    cfg = load_config()
    first = process_call(path, cfg).serialize()
    assert first["transcript_id"].startswith("t-") and first["analysis_id"].startswith("a-")
    again = process_call(path, load_config(overrides={"web": {"queue_limit": 3}})).serialize()
    assert (again["transcript_id"], again["analysis_id"]) == (first["transcript_id"], first["analysis_id"])
