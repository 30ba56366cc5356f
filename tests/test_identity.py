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


def test_sections_that_change_no_result_change_no_id_nor_the_config_hash():
    base, cfg = _ids(), load_config()
    for over in ({"library": {"per_competency_scenario": 9}}, {"alerts": {"enabled": False}},
                 {"ui": {"en": {"app": {"title": "Calls"}}}}, {"web": {"queue_limit": 3}}):
        assert _ids(over) == base, over
        assert load_config(overrides=over).hash == cfg.hash, over


def test_a_section_named_nowhere_counts_for_the_analysis():
    from callqa.pipeline.identity import NO_RESULT_SECTIONS, TRANSCRIPT_KEYS

    tree = load_config().tree
    named = NO_RESULT_SECTIONS | {k.split(".")[0] for k in TRANSCRIPT_KEYS}
    analysis_only = sorted(k for k in tree if k not in named)
    assert "signals" in named and "indicators" in analysis_only and "categories" in analysis_only
    base = _ids()
    changed = _ids({"grading": {"nomination": {"min_score": 1}}})
    assert changed["transcript_id"] == base["transcript_id"] and changed["analysis_id"] != base["analysis_id"]


def test_stage_of_split_sections():
    base = _ids()
    # loudness: the frames are measured with the transcript, the raised-voice rule is analysis
    frames = _ids({"signals": {"loudness": {"frame_ms": 40}}})
    assert frames["transcript_id"] != base["transcript_id"]
    raised = _ids({"signals": {"loudness": {"raised_db": 9.5}}})
    assert raised["transcript_id"] == base["transcript_id"] and raised["analysis_id"] != base["analysis_id"]
    # the stored transcript is redacted: privacy settings are the transcript's
    assert _ids({"privacy": {"number_min_digits": 9}})["transcript_id"] != base["transcript_id"]
    # sentiment model: analysis only
    sent = _ids({"models": {"sentiment": {"backend": "lexicon"}}})
    assert sent["transcript_id"] == base["transcript_id"]
    # the glossary biases the ASR only when hotwords are on
    gloss = {"company": {"glossary": {"en": ["cashback"]}}}
    assert _ids(gloss)["transcript_id"] == base["transcript_id"] and _ids(gloss)["analysis_id"] != base["analysis_id"]
    hot = {"models": {"asr": {"use_hotwords": True}}}
    assert _ids({**hot, **gloss})["transcript_id"] != _ids(hot)["transcript_id"]
    # the lexicon's fillers are added by the ASR only when its filler pass is on
    more = {"lexicons": {"en": {"fillers": {"speaker": "any"}}}}
    assert _ids(more)["transcript_id"] == base["transcript_id"] and _ids(more)["analysis_id"] != base["analysis_id"]
    passing = {"models": {"asr": {"filler_pass": {"enabled": True}}}}
    assert _ids({**passing, **more})["transcript_id"] != _ids(passing)["transcript_id"]


def test_meta_of_each_stage():
    base = _ids(meta={"channel_map": ("operator", "client")})
    swapped = _ids(meta={"channel_map": ("client", "operator")})
    assert swapped["transcript_id"] != base["transcript_id"]
    for field in ("team", "role", "scenario", "operator_id", "started_at"):
        other = _ids(meta={"channel_map": ("operator", "client"), field: "x"})
        assert other["transcript_id"] == base["transcript_id"] and other["analysis_id"] != base["analysis_id"], field
    assert _ids(meta={"num_speakers": 1})["transcript_id"] != _ids()["transcript_id"]
