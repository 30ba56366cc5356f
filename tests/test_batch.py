"""The batch in plain Python (no Prefect): inbox discovery with manifest rows and
sidecars, call identity, skipping what is done, and bad files that never stop a batch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from callqa.pipeline import batch
from callqa.pipeline.batch import discover, plan_batch, run_batch
from callqa.pipeline.errors import InputError
from callqa.pipeline.store.db import Store

EN_TURNS = [
    ("operator", 0.4, 3.9, "Thank you for calling, my name is Anna. How can I help you today?"),
    ("client", 4.3, 8.0, "Hi, my card was blocked this morning and I cannot pay."),
    ("operator", 8.4, 12.5, "So what you're saying is your card stopped working today? Let me check."),
    ("client", 13.0, 14.2, "Yes, exactly."),
    ("operator", 14.6, 19.0, "I have unblocked it. Is there anything else I can help you with?"),
    ("client", 19.4, 20.5, "No, thank you, bye."),
]


def write_transcript(path: Path, call_id: str | None = None, operator: str = "op-1", language: str = "en",
                     turns=EN_TURNS) -> Path:
    data = {"language": language, "operator_id": operator, "role": "inbound",
            "turns": [{"speaker": s, "start": a, "end": b, "text": t} for s, a, b, t in turns]}
    if call_id is not None:
        data["call_id"] = call_id
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture()
def inbox(tmp_path) -> Path:
    box = tmp_path / "inbox"
    box.mkdir()
    for i in range(3):
        write_transcript(box / f"call{i}.json", call_id=f"c{i}", operator=f"op-{i % 2}")
    (box / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage, not audio")
    return box


def test_discovery_reads_manifest_sidecars_and_ids_inside_transcripts(tmp_path):
    box = tmp_path / "inbox"
    box.mkdir()
    write_transcript(box / "a.json", call_id="from-json")
    write_transcript(box / "b.json")  # no call_id inside: the file name
    write_transcript(box / "c.json")
    (box / "c.meta.json").write_text(json.dumps({"call_id": "from-sidecar", "team": "t1"}))
    (box / "d.json.truth.json").write_text("{}")  # ground truth files are not calls
    (box / "notes.txt").write_text("not a call")
    write_transcript(box / "dup.json", call_id="from-json")  # same id as a.json
    (box / "manifest.csv").write_text("file,operator_id,team\nb.json,op-77,north\nmissing.wav,op-1,x\n")
    found = discover([box])
    ids = {i.call_id: i for i in found.items}
    assert set(ids) == {"from-json", "b", "from-sidecar"}
    assert ids["b"].meta["operator_id"] == "op-77" and ids["b"].meta["team"] == "north"
    assert all(len(i.sha256) == 64 for i in found.items)
    reasons = sorted(p.reason for p in found.problems)
    assert any("duplicate call id 'from-json'" in r for r in reasons)
    assert any("'missing.wav' matches no file" in r for r in reasons)


def test_a_sidecar_whose_recording_is_not_there_is_reported_not_ignored(tmp_path):
    """A typo in a sidecar's name ("call-7.meta.json" beside "call_7.wav") lost the call's team and
    operator without a word; it is now a problem of the batch, naming the sidecar, and the call is
    still processed (with the metadata it has)."""
    box = tmp_path / "inbox"
    box.mkdir()
    write_transcript(box / "call_7.json")
    (box / "call-7.meta.json").write_text(json.dumps({"operator_id": "op-7", "team": "north"}))
    (box / "call_7.meta.yaml").write_text("team: south\n")  # this one matches
    found = discover([box])
    assert [i.call_id for i in found.items] == ["call_7"]
    assert [(Path(p.path).name, p.reason) for p in found.problems] == [
        ("call-7.meta.json", "metadata sidecar matches no recording in the inbox "
                             "(expected a recording named call-7.<ext>)")]


def test_a_bad_manifest_or_missing_inbox_stops_before_processing(tmp_path):
    with pytest.raises(InputError, match="inbox is not a directory"):
        discover([tmp_path / "nope"])
    box = tmp_path / "inbox"
    box.mkdir()
    (box / "manifest.csv").write_text("file,role\nx.wav,cashier\n")
    with pytest.raises(InputError, match=r"manifest.csv: row 2: field 'role'"):
        discover([box])


def test_identity_changes_with_file_config_and_models(tmp_path, inbox):
    store = Store(tmp_path / "store")
    run_batch([inbox], store.path)
    assert plan_batch([inbox], store).todo == ()
    # a changed recording is new work
    write_transcript(inbox / "call1.json", call_id="c1", turns=EN_TURNS[:4])
    assert [i.call_id for i in plan_batch([inbox], store).todo] == ["c1"]
    # a changed configuration redoes every call
    cfg = tmp_path / "customer.yaml"
    cfg.write_text("company:\n  names: [Northwind Bank]\n")
    assert {i.call_id for i in plan_batch([inbox], store, cfg).todo} == {"c0", "c1", "c2", "corrupt"}
    assert len(plan_batch([inbox], store, reprocess=True).todo) == 4


def test_identity_follows_model_choice(config, inbox):
    from callqa.pipeline.config import load_config

    item = discover([inbox]).items[0]
    other = load_config(overrides={"models": {"asr": {"model": "small"}}})
    assert batch.identity_for(item, config) == batch.identity_for(item, load_config())
    assert batch.identity_for(item, config).transcript_id != batch.identity_for(item, other).transcript_id


def test_bad_file_is_recorded_and_the_batch_goes_on_then_rerun_does_nothing(tmp_path, inbox):
    store = Store(tmp_path / "store")
    summary = run_batch([inbox], store.path)
    assert (summary.processed, summary.failed, summary.skipped) == (3, 1, 0)
    assert summary.failures[0]["path"].endswith("corrupt.wav")
    err = store.get("corrupt")
    assert err["status"] == "error" and err["flags"][0]["id"] == "processing_error"
    assert "corrupt.wav" in str(store.quarantine()[0]["path"])
    ok = store.get("c0")
    assert ok["operator_id"] == "op-0" and len(ok["transcript"]["turns"]) == len(EN_TURNS)
    assert Path(summary.report).is_file() and "corrupt.wav" in Path(summary.report).read_text()
    assert (store.parquet_dir / "calls.parquet").is_file()

    again = run_batch([inbox], store.path)
    assert (again.processed, again.failed, again.skipped) == (0, 0, 4)
    assert len(store.processing_log()) == 4  # nothing was processed twice

    redo = run_batch([inbox], store.path, reprocess=True)
    assert (redo.processed, redo.failed) == (3, 1)
    assert store.counts()["calls"] == 4


def test_quarantine_dir_moves_the_bad_file_and_its_sidecar(tmp_path, inbox):
    (inbox / "corrupt.meta.json").write_text(json.dumps({"operator_id": "op-9"}))
    qdir = tmp_path / "quarantine"
    summary = run_batch([inbox], tmp_path / "store", quarantine_dir=qdir)
    assert summary.failed == 1
    assert not (inbox / "corrupt.wav").exists() and (qdir / "corrupt.wav").is_file()
    assert (qdir / "corrupt.meta.json").is_file()
    assert Store(tmp_path / "store").quarantine()[0]["moved_to"] == str(qdir / "corrupt.wav")


def test_unexpected_error_is_recorded_and_retried_next_run(tmp_path, inbox, monkeypatch):
    real = batch.process_call

    def flaky(path, config, meta=None, hook=None):
        if Path(path).name == "call2.json":
            raise RuntimeError("GPU fell off the bus")
        return real(path, config, meta=meta, hook=hook)

    monkeypatch.setattr(batch, "process_call", flaky)
    first = run_batch([inbox], tmp_path / "store")
    assert first.failed == 2
    assert {f["reason"] for f in first.failures} >= {"RuntimeError: GPU fell off the bus"}
    monkeypatch.setattr(batch, "process_call", real)
    second = run_batch([inbox], tmp_path / "store")
    assert (second.processed, second.skipped) == (1, 3)  # only the transient failure is redone
    redone = Store(tmp_path / "store").get("c2")
    assert redone.get("status") is None and len(redone["transcript"]["turns"]) == len(EN_TURNS)


def test_sample_transcripts_are_stored_with_their_analysis(tmp_path, sample_calls_dir):
    src = sorted((sample_calls_dir / "transcripts").glob("*.json"))[:3]
    assert src, f"no sample transcripts in {sample_calls_dir / 'transcripts'}"
    box = tmp_path / "inbox"
    box.mkdir()
    for p in src:
        shutil.copy(p, box / p.name)
    store = Store(tmp_path / "store")
    summary = run_batch([box], store.path, report=False)
    assert summary.processed == len(src) and summary.failed == 0
    for p in src:
        data = json.loads(p.read_text(encoding="utf-8"))
        stored = store.get(data.get("call_id") or p.stem)
        assert len(stored["transcript"]["turns"]) == len(data["turns"])
        n = store.query("SELECT count(*) AS n FROM turns WHERE call_id = ?", [stored["call_id"]])[0]["n"]
        assert n == len(data["turns"])
        comps = store.query("SELECT competency_id FROM competencies WHERE call_id = ?", [stored["call_id"]])
        assert len(comps) == len(stored["competencies"])


def test_a_missing_model_is_a_setup_error_tried_again_next_run(tmp_path, inbox, monkeypatch):
    from callqa.pipeline.errors import ModelUnavailable

    real = batch.process_call

    def no_model(path, config, meta=None, hook=None):
        raise ModelUnavailable("ASR model 'small' is not available offline: run `callqa models pull small`")

    monkeypatch.setattr(batch, "process_call", no_model)
    first = run_batch([inbox], tmp_path / "store", report=False)
    assert first.failed == 4 and "callqa models pull small" in first.failures[0]["reason"]
    assert {q["error_kind"] for q in Store(tmp_path / "store").quarantine()} == {"setup"}
    monkeypatch.setattr(batch, "process_call", real)
    second = run_batch([inbox], tmp_path / "store", report=False)
    assert (second.processed, second.failed) == (3, 1)  # only the corrupt file still fails


def test_workers_only_compute_and_the_one_writer_stores_each_call_once(tmp_path, inbox, monkeypatch):
    """What a worker runs (`compute_call`) never opens the store and returns picklable work;
    the run's writer stores each call once however often its work arrives (a retried task),
    and a call whose worker died is stored as failed with the reason, redone next run."""
    import pickle

    store = Store(tmp_path / "store")
    plan = plan_batch([inbox], store)
    batch.open_run(plan)
    with monkeypatch.context() as m:
        m.setattr(Store, "_connect", lambda *a, **k: pytest.fail("computing a call opened the store"))
        works = [pickle.loads(pickle.dumps(batch.compute_call(item, config_file=None))) for item in plan.todo]
    assert {w.item.call_id: w.status for w in works} == {"c0": "processed", "c1": "processed", "c2": "processed",
                                                         "corrupt": "failed"}
    bad = next(w for w in works if w.status == "failed")
    assert bad.kind == "input" and bad.reason and bad.result is None

    writer = batch.RunWriter(plan, store)
    first = [writer.write(w) for w in works]
    again = [writer.write(w.serialize()) for w in works]  # the same work arriving once more
    assert again == first and len(writer.outcomes) == len(works)
    assert sorted(r["call_id"] for r in store.processing_log()) == ["c0", "c1", "c2", "corrupt"]
    assert store.query("SELECT count(*) AS n FROM calls")[0]["n"] == 4

    other = Store(tmp_path / "other")
    lost_plan = plan_batch([inbox], other)
    batch.open_run(lost_plan)
    c0 = next(i for i in lost_plan.todo if i.call_id == "c0")
    outcome = batch.RunWriter(lost_plan, other).crash(c0, "the worker running this call failed: KilledWorker")
    assert (outcome.status, outcome.reason) == ("failed", "the worker running this call failed: KilledWorker")
    stored = other.get("c0")
    assert stored["status"] == "error" and stored["error_kind"] == "unexpected" and "KilledWorker" in stored["error"]
    redo = run_batch([inbox], other.path, report=False)
    assert "c0" in {c.call_id for c in redo.calls if c.status == "processed"}
