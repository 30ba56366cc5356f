"""`callqa rescore` and the batch per stage (issue 12): analyses recomputed from stored
transcripts with no ASR and no decoding; a web.yaml change reprocesses nothing; a team change
is a new analysis of the same transcript, a channel map change a new transcript; earlier
analyses stay readable with the reviews made on them; a broken stored transcript is named
and the other calls are still rescored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from callqa.cli import main as cli
from callqa.pipeline.batch import plan_batch, run_batch
from callqa.pipeline.config import load_config
from callqa.pipeline.rescore import rescore_store
from callqa.pipeline.store.db import Store

AUDIO = "en_good_inbound"
TRANSCRIPTS = ("en_good_inbound_tx", "en_bad_inbound_tx", "ru_good_inbound_tx")


@pytest.fixture(scope="module")
def built(tmp_path_factory, sample_calls_dir):
    """An inbox with one recording (ASR runs once, here) and three transcript imports, batched."""
    root = tmp_path_factory.mktemp("rescore")
    inbox = root / "inbox"
    inbox.mkdir()
    for f in (sample_calls_dir / "audio").glob(f"{AUDIO}.*"):
        shutil.copy(f, inbox / f.name)
    for name in TRANSCRIPTS:
        shutil.copy(sample_calls_dir / "transcripts" / f"{name}.json", inbox / f"{name}.json")
    summary = run_batch([inbox], root / "store", report=False)
    assert (summary.processed, summary.failed) == (4, 0), summary.failures
    return root


@pytest.fixture()
def world(built, tmp_path):
    """A private copy of the built inbox and store for one test."""
    shutil.copytree(built / "inbox", tmp_path / "inbox")
    shutil.copytree(built / "store", tmp_path / "store")
    return tmp_path


@pytest.fixture()
def no_speech(monkeypatch):
    """Decoding or ASR during the test fails it; ASR entry points are counted."""
    from callqa.pipeline.speech import decode, transcribe

    def refuse(*args, **kwargs):
        raise AssertionError("decoding or ASR ran")

    monkeypatch.setattr(decode, "load_audio", refuse)
    monkeypatch.setattr(transcribe, "transcribe_mono", refuse)
    monkeypatch.setattr(transcribe, "transcribe_stereo", refuse)
    return transcribe


def script_config(path: Path) -> Path:
    """A customer file whose English inbound greeting is a phrase no sample call says."""
    stages = [dict(s) for s in load_config().get("scripts.en.inbound")["stages"]]
    greeting = next(s for s in stages if s["id"] == "greeting")
    greeting["patterns"] = ["greetings from the moon"]
    path.write_text(yaml.safe_dump({"scripts": {"en": {"inbound": {"stages": stages}}}}, allow_unicode=True))
    return path


def greeting_found(result: dict) -> bool:
    return next(s for s in result["signals"]["script"]["stages"] if s["id"] == "greeting")["found"]


def test_rescore_with_nothing_changed_reproduces_the_stored_analysis(world, no_speech):
    store = Store(world / "store")
    before = {c: store.get(c, with_reviews=False) for c in (AUDIO,) + TRANSCRIPTS}
    summary = rescore_store(store, force=True)
    assert sorted(summary.rescored) == sorted(before) and summary.asr_runs == 0 and not summary.failed
    for cid, old in before.items():
        new = store.get(cid, with_reviews=False)
        assert new["analysis_id"] == old["analysis_id"] and new["transcript_id"] == old["transcript_id"]
        for key in ("signals", "indicators", "competencies", "flags", "nominations", "transcript"):
            assert new[key] == old[key], (cid, key)
    assert before[AUDIO]["signals"]["loudness"]["operator"] is not None  # measured from the audio, stored


def test_script_phrase_change_rescores_from_stored_transcripts_without_asr(world, no_speech, capsys):
    store = Store(world / "store")
    old = {c: store.get(c, with_reviews=False) for c in (AUDIO,) + TRANSCRIPTS}
    assert greeting_found(old[AUDIO]) and greeting_found(old["en_good_inbound_tx"])
    cfg = script_config(world / "customer.yaml")
    runs = no_speech.ASR_RUNS
    code = cli(["rescore", "--store", str(world / "store"), "--config", str(cfg), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and no_speech.ASR_RUNS == runs
    assert out["counts"]["asr_runs"] == 0 and out["counts"]["failed"] == 0
    # the English calls got a new analysis; the Russian one's analysis identity is unchanged as well
    # (the English script is part of every call's analysis settings)
    assert sorted(out["rescored"]) == sorted((AUDIO,) + TRANSCRIPTS)
    for cid in (AUDIO, "en_good_inbound_tx"):
        new = store.get(cid, with_reviews=False)
        assert not greeting_found(new)
        assert new["transcript_id"] == old[cid]["transcript_id"] and new["analysis_id"] != old[cid]["analysis_id"]
        assert new["signals"]["script"]["compliance"] < old[cid]["signals"]["script"]["compliance"]
        comp = {c["id"]: c["score"] for c in new["competencies"]}
        was = {c["id"]: c["score"] for c in old[cid]["competencies"]}
        assert comp["script_compliance"] < was["script_compliance"]
    # the nightly batch under the same configuration has nothing left to do
    plan = plan_batch([world / "inbox"], store, cfg)
    assert plan.todo == () and len(plan.skipped) == 4
    # and a rescore again finds every analysis current
    again = rescore_store(store, cfg)
    assert sorted(again.unchanged) == sorted(old) and again.rescored == []


def test_nightly_batch_redoes_only_the_analysis_when_only_analysis_settings_changed(world, no_speech):
    store = Store(world / "store")
    cfg = script_config(world / "customer.yaml")
    plan = plan_batch([world / "inbox"], store, cfg)
    assert len(plan.todo) == 4 and plan.analysis_only == 4  # every transcript reused
    summary = run_batch([world / "inbox"], store.path, cfg, report=False)
    assert (summary.processed, summary.failed) == (4, 0)
    assert not greeting_found(store.get(AUDIO, with_reviews=False))


def test_web_yaml_change_reprocesses_nothing(world, no_speech):
    store = Store(world / "store")
    cfg = world / "web.yaml"
    cfg.write_text("web:\n  queue_limit: 7\ndevelopment:\n  weakest: 1\nlibrary:\n  per_competency_scenario: 9\n")
    plan = plan_batch([world / "inbox"], store, cfg)
    assert plan.todo == () and len(plan.skipped) == 4
    summary = run_batch([world / "inbox"], store.path, cfg, report=False)
    assert (summary.processed, summary.skipped) == (0, 4)
    assert rescore_store(store, cfg).rescored == []


def test_team_change_is_a_new_analysis_of_the_same_transcript(world, no_speech):
    store = Store(world / "store")
    old = store.get(AUDIO, with_reviews=False)
    side = world / "inbox" / f"{AUDIO}.meta.json"
    meta = json.loads(side.read_text())
    meta["team"] = "team-z"
    side.write_text(json.dumps(meta))
    plan = plan_batch([world / "inbox"], store)
    (item,) = plan.todo
    assert item.call_id == AUDIO and item.transcript is not None  # the stored transcript is reused
    summary = run_batch([world / "inbox"], store.path, report=False)
    assert (summary.processed, summary.skipped, summary.failed) == (1, 3, 0)
    new = store.get(AUDIO, with_reviews=False)
    assert new["team"] == "team-z"
    assert new["transcript_id"] == old["transcript_id"] and new["analysis_id"] != old["analysis_id"]
    assert new["transcript"] == old["transcript"]


def test_channel_map_change_is_a_new_transcript(world):
    store = Store(world / "store")
    old = store.get(AUDIO, with_reviews=False)
    side = world / "inbox" / f"{AUDIO}.meta.json"
    meta = json.loads(side.read_text())
    meta["channel_map"] = ["client", "operator"]
    side.write_text(json.dumps(meta))
    (item,) = plan_batch([world / "inbox"], store).todo
    assert item.call_id == AUDIO and item.transcript is None  # the whole call is redone, ASR included
    assert item.identity.transcript_id != old["transcript_id"]


def test_earlier_analysis_stays_readable_with_the_review_made_on_it(world, no_speech):
    store = Store(world / "store")
    old = store.get(AUDIO, with_reviews=False)
    review = store.add_review(AUDIO, "score_override", author="anna", target="script_compliance",
                              value={"score": 90, "level": 4}, comment="greeting was fine")
    assert review["analysis_id"] == old["analysis_id"]
    rescore_store(store, script_config(world / "customer.yaml"), call_ids=[AUDIO])
    now = store.get(AUDIO)
    assert now["analysis_id"] != old["analysis_id"]
    (r,) = now["reviews"]
    assert r["analysis_id"] == old["analysis_id"] and r["current"] is False  # not applied to the new one
    earlier = store.analysis(old["analysis_id"])
    assert earlier["current"] is False and earlier["competencies"] == old["competencies"]
    assert [x["review_id"] for x in earlier["reviews"]] == [review["review_id"]]
    assert store.analysis(now["analysis_id"])["current"] is True
    listed = store.analyses(AUDIO)
    assert [a["analysis_id"] for a in listed] == [old["analysis_id"], now["analysis_id"]]
    # back to the old settings: the old analysis is current again, and so is its review
    rescore_store(store, None, call_ids=[AUDIO])
    assert store.get(AUDIO)["analysis_id"] == old["analysis_id"]
    assert store.reviews(AUDIO)[0]["current"] is True


def test_a_broken_stored_transcript_is_named_and_the_others_are_rescored(world, no_speech, capsys):
    import duckdb

    store = Store(world / "store")
    db = duckdb.connect(str(store.db_path))
    db.execute("UPDATE transcripts SET record = '{\"call_id\": \"en_bad_inbound_tx\"}' WHERE call_id = 'en_bad_inbound_tx'")
    db.close()
    code = cli(["rescore", "--store", str(world / "store"), "--config", str(script_config(world / "c.yaml"))])
    captured = capsys.readouterr()
    assert code == 1
    assert "rescored 3, unchanged 0, failed 1" in captured.out and "ASR runs 0" in captured.out
    assert "failed en_bad_inbound_tx: stored transcript is not readable: missing 'source'" in captured.err
    assert not greeting_found(store.get("en_good_inbound_tx", with_reviews=False))


def test_rescore_selects_calls_and_names_unknown_ids(world, no_speech, capsys):
    store = Store(world / "store")
    cfg = script_config(world / "c.yaml")
    summary = rescore_store(store, cfg, call_ids=["en_good_inbound_tx", "nope"])
    assert summary.rescored == ["en_good_inbound_tx"]
    assert summary.failed == [{"call_id": "nope", "reason": "no analysed call with this id in the store"}]
    assert rescore_store(store, cfg, since="2100-01-01").rescored == []
    assert cli(["rescore", "--store", str(world / "store"), "--since", "yesterday"]) == 2
    assert cli(["rescore", "--store", str(world / "nowhere")]) == 2
    capsys.readouterr()


def test_a_version_3_store_gains_the_tables_and_reports_calls_without_transcripts(world):
    import duckdb

    store = Store(world / "store")
    db = duckdb.connect(str(store.db_path))
    db.execute("DROP TABLE transcripts")
    db.execute("DROP TABLE analyses")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.close()
    reopened = Store(world / "store")
    assert reopened.query("SELECT value FROM meta WHERE key = 'schema_version'")[0]["value"] == "4"
    summary = rescore_store(reopened, force=True)
    assert sorted(summary.missing) == sorted((AUDIO,) + TRANSCRIPTS) and summary.rescored == []
    # the next batch transcribes them once more (their identity is defined per stage now)
    assert plan_batch([world / "inbox"], reopened).analysis_only == 0
