"""The embedded store: atomic per-call writes, identity, reviews, queues, Parquet
tables a team can query directly, and locks that hold across processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from callqa.pipeline.store.db import CallIdentity, Store, StoreError, StoreLocked


def make_result(call_id: str, *, n_turns: int = 3, flags=None, nominations=None, operator="op-1",
                score: float = 70.0) -> dict:
    turns = [{"speaker": "operator" if i % 2 == 0 else "client", "start": i * 2.0, "end": i * 2.0 + 1.5,
              "text": f"turn {i} of {call_id}"} for i in range(n_turns)]
    return {
        "schema_version": 1, "call_id": call_id, "language": "en", "duration_s": n_turns * 2.0,
        "operator_id": operator, "role": "inbound", "team": "team-a", "started_at": "2024-05-14T09:12:00",
        "source": {"path": f"/inbox/{call_id}.wav", "sha256": "s-" + call_id, "sample_rate": 8000, "channels": 2},
        "models": {"asr": "tiny.en", "diarization": "stereo-channels", "sentiment": "lexicon"},
        "config_hash": "cfg1", "transcript": {"turns": turns},
        "signals": {"talk_time_s": {"operator": 3.0, "client": 1.5}, "talk_ratio_operator": 0.67,
                    "filler_words": {"count": 2, "items": [{"text": "um", "start": 1.0, "speaker": "operator"}]}},
        "difficult": False,
        "indicators": [{"id": "talk_ratio", "value": 0.67, "score": 0.8, "evidence": []},
                       {"id": "greeting", "value": True, "score": 1.0,
                        "evidence": [{"start": 0.0, "end": 1.5, "speaker": "operator", "quote": "hello"}]}],
        "competencies": [{"id": "active_listening", "score": score, "level": 3, "indicators": ["talk_ratio"]},
                         {"id": "stress_resistance", "score": None, "level": None, "indicators": []}],
        "flags": flags if flags is not None else [],
        "nominations": nominations if nominations is not None else [],
    }


def ident(call_id: str, sha: str | None = None, config_hash: str = "cfg1", models: str = "m1") -> CallIdentity:
    return CallIdentity(call_id, sha or "s-" + call_id, config_hash, models)


@pytest.fixture()
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


def test_saved_call_is_in_every_table_and_readable_from_parquet(store):
    flag = {"id": "escalation", "severity": "high", "reason": "client asked for a manager",
            "evidence": [{"start": 4.0, "end": 5.5, "speaker": "client", "quote": "get me your manager"}]}
    store.save(make_result("c1", n_turns=5, flags=[flag],
                           nominations=[{"competency": "active_listening", "score": 88, "reason": "paraphrased"}]),
               identity=ident("c1"), run_id="r1")
    store.save(make_result("c2"), identity=ident("c2"), run_id="r1")
    counts = store.counts()
    assert counts["calls"] == 2 and counts["results"] == 2
    assert counts["turns"] == 5 + 3
    assert counts["competencies"] == 4 and counts["indicators"] == 4
    assert counts["flags"] == 1 and counts["nominations"] == 1

    assert store.get("c1")["transcript"]["turns"][4]["text"] == "turn 4 of c1"
    assert store.get("nope") is None

    store.export_parquet()
    pq = store.parquet_dir
    # DuckDB straight on the Parquet files, no callqa involved
    rows = duckdb.sql(f"SELECT call_id, operator_id, n_turns, n_flags, max_severity FROM '{pq / 'calls.parquet'}' "
                      "ORDER BY call_id").fetchall()
    assert rows == [("c1", "op-1", 5, 1, "high"), ("c2", "op-1", 3, 0, None)]
    flags = pl.read_parquet(pq / "flags.parquet")
    assert flags.row(0, named=True)["quote"] == "get me your manager"
    assert flags.row(0, named=True)["start"] == 4.0
    signals = pl.read_parquet(pq / "signals.parquet").filter(pl.col("call_id") == "c1")
    op_talk = signals.filter((pl.col("signal") == "talk_time_s") & (pl.col("speaker") == "operator"))
    assert op_talk["value"].to_list() == [3.0]
    results = pl.read_parquet(pq / "results.parquet")
    assert json.loads(results.filter(pl.col("call_id") == "c2")["result"][0])["call_id"] == "c2"
    comps = pl.read_parquet(pq / "competencies.parquet").filter(pl.col("call_id") == "c1")
    assert comps.filter(pl.col("competency_id") == "active_listening")["indicators"].to_list() == [["talk_ratio"]]


def test_resaving_a_call_replaces_it_and_keeps_reviews(store):
    store.save(make_result("c1", n_turns=6), identity=ident("c1"), run_id="r1")
    store.add_review("c1", "review", author="anna", status="reviewed", comment="ok")
    store.save(make_result("c1", n_turns=2), identity=ident("c1", config_hash="cfg2"), run_id="r2")
    assert store.counts()["calls"] == 1
    assert store.counts()["turns"] == 2
    assert store.stored(["c1"])["c1"].run_id == "r2"
    assert [r["author"] for r in store.reviews("c1")] == ["anna"]


def test_identity_decides_what_is_done(store):
    store.save(make_result("c1"), identity=ident("c1"))
    assert store.has(ident("c1"))
    assert not store.has(ident("c1", sha="other-audio"))
    assert not store.has(ident("c1", config_hash="cfg2"))
    assert not store.has(ident("c1", models="m2"))
    assert not store.has(ident("c2"))
    assert ident("c1").key in store.done_identities()


def test_processing_error_is_flagged_quarantined_and_never_erases_a_good_analysis(store):
    store.save_error("bad", "/inbox/bad.wav", "not a readable audio file", identity=ident("bad"), run_id="r1")
    queue = store.flags()
    assert [(f["call_id"], f["flag_id"], f["reason"]) for f in queue] == [
        ("bad", "processing_error", "not a readable audio file")]
    assert store.quarantine()[0]["path"] == "/inbox/bad.wav"
    assert store.has(ident("bad"))  # the same bad file is not retried every night...
    assert not store.has(ident("bad", sha="fixed-file"))  # ...until it changes
    assert list(store.results()) == []  # errors are not results for grading
    assert store.get("bad")["status"] == "error"

    store.save(make_result("c1"), identity=ident("c1"))
    store.save_error("c1", "/inbox/c1.wav", "truncated re-delivery", identity=ident("c1", sha="broken"))
    assert store.get("c1")["transcript"]["turns"], "a corrupt re-delivery must not erase the stored analysis"
    assert {q["reason"] for q in store.quarantine()} == {"not a readable audio file", "truncated re-delivery"}
    # an unexpected error (not the input's fault) is retried on the next run
    store.save_error("c9", "/inbox/c9.wav", "RuntimeError: boom", identity=ident("c9"), kind="unexpected")
    assert not store.has(ident("c9"))


def test_flag_queue_sorts_by_severity_and_hides_dismissed(store):
    def flag(fid, sev):
        return {"id": fid, "severity": sev, "reason": fid,
                "evidence": [{"start": 1.0, "end": 2.0, "speaker": "operator", "quote": fid}]}

    store.save(make_result("a", flags=[flag("long_silence", "low")]), identity=ident("a"))
    store.save(make_result("b", flags=[flag("forbidden_phrase", "high"), flag("negative_end", "medium")]),
               identity=ident("b"))
    assert [f["flag_id"] for f in store.flags()] == ["forbidden_phrase", "negative_end", "long_silence"]
    assert [f["flag_id"] for f in store.flags(min_severity="medium")] == ["forbidden_phrase", "negative_end"]
    store.add_review("b", "flag", author="sup", target="forbidden_phrase", status="dismissed")
    assert [f["flag_id"] for f in store.flags()] == ["negative_end", "long_silence"]
    assert len(store.flags(include_dismissed=True)) == 3


def test_score_override_applies_to_results_and_is_validated(store):
    store.save(make_result("c1", score=55.0), identity=ident("c1"))
    store.add_review("c1", "score_override", author="sup", target="active_listening", value={"score": 80, "level": 3})
    store.add_review("c1", "score_override", author="sup2", target="active_listening", value={"score": 90, "level": 4})
    comp = next(c for c in next(store.results())["competencies"] if c["id"] == "active_listening")
    assert (comp["score"], comp["level"]) == (90, 4)
    assert comp["override"]["original"] == {"score": 55.0, "level": 3} and comp["override"]["by"] == "sup2"
    raw = next(c for c in next(store.results(apply_overrides=False))["competencies"] if c["id"] == "active_listening")
    assert raw["score"] == 55.0
    assert pl.read_parquet(store.parquet_dir / "reviews.parquet").height == 2  # reviews exported as they happen
    with pytest.raises(StoreError, match="0..100"):
        store.add_review("c1", "score_override", author="sup", target="active_listening", value={"score": 150})
    with pytest.raises(StoreError, match="no call 'zz'"):
        store.add_review("zz", "review", author="sup")
    with pytest.raises(StoreError, match="kind"):
        store.add_review("c1", "like", author="sup")


def test_nominations_wait_for_approval(store):
    # one nomination per call, listing the competencies it shows; one decision covers it
    nom = {"competency": "active_listening", "score": 91, "reason": "x",
           "competencies": [{"id": "active_listening", "score": 91}, {"id": "customer_orientation", "score": 85}]}
    store.save(make_result("c1", nominations=[nom]), identity=ident("c1"))
    store.save(make_result("c2", nominations=[{**nom, "competencies": nom["competencies"][:1]}]), identity=ident("c2"))
    rows = store.nominations()
    assert len(rows) == 2 and {n["status"] for n in rows} == {"pending"}
    assert next(n for n in rows if n["call_id"] == "c1")["competencies"] == ["active_listening", "customer_orientation"]
    assert [n["call_id"] for n in store.nominations(competency="customer_orientation")] == ["c1"]
    store.add_review("c1", "nomination", author="trainer", status="approved")
    assert [n["call_id"] for n in store.nominations(status="approved")] == ["c1"]
    assert [n["call_id"] for n in store.nominations(status="pending")] == ["c2"]
    assert store.reviews("c1")[-1]["target"] == "call"


def test_run_lock_is_exclusive_and_names_the_holder(store):
    with store.lock(owner="first"):
        with pytest.raises(StoreLocked, match=f"pid {os.getpid()}") as e:
            with Store(store.path).lock():
                pass
        assert "--wait" in str(e.value)
        t0 = time.monotonic()
        with pytest.raises(StoreLocked):
            with Store(store.path).lock(wait=0.5):
                pass
        assert time.monotonic() - t0 >= 0.45
    with Store(store.path).lock():  # released
        pass


WRITER = textwrap.dedent("""
    import sys
    from callqa.pipeline.store.db import Store, CallIdentity
    store, prefix, n = Store(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    for i in range(n):
        cid = f"{prefix}{i:03d}"
        turns = [{"speaker": "operator", "start": t, "end": t + 0.5, "text": f"words {t}"} for t in range(40)]
        store.save({"call_id": cid, "transcript": {"turns": turns}}, identity=CallIdentity(cid, "s", "c", "m"))
        print(cid, flush=True)
""")


def _writer(tmp_path: Path, store: Store, prefix: str, n: int) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen([sys.executable, str(script), str(store.path), prefix, str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_writer_processes_lose_nothing(tmp_path, store):
    procs = [_writer(tmp_path, store, p, 10) for p in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert store.counts()["calls"] == 20
    assert store.counts()["turns"] == 20 * 40


def test_killed_writer_leaves_whole_calls_only(tmp_path, store):
    proc = _writer(tmp_path, store, "k", 400)
    seen = 0
    deadline = time.monotonic() + 60
    while seen < 5 and time.monotonic() < deadline:  # let it write a few calls, then kill it mid-stream
        if proc.stdout.readline():
            seen += 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seen >= 5
    calls = store.calls()
    assert len(calls) >= 5
    per_call = {r["call_id"]: r["n"] for r in store.query("SELECT call_id, count(*) AS n FROM turns GROUP BY 1")}
    assert all(per_call[c["call_id"]] == c["n_turns"] == 40 for c in calls), "a call was stored partially"
    assert set(per_call) == {c["call_id"] for c in calls}
    store.save(make_result("after"), identity=ident("after"))  # the store is still writable
    assert store.get("after") is not None
