"""Disputes in the store (pipeline/qa/disputes.py, store schema 3): steps stored with who and
when, acceptance overrides through the reviews on the dispute's analysis, counts, the
Parquet copy, and the migration of a version-2 store."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from test_web_store import build_web_store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_web_store(tmp_path_factory)


@pytest.fixture()
def store(built, tmp_path):
    from callqa.pipeline.store.db import Store

    src = Store(built["store"])
    own = Store(tmp_path / "store")
    for cid in ("blue-bad-en", "blue-good-en", "red-bad-en"):
        own.save(src.get(cid, with_reviews=False))
    return own


def test_raise_and_accept_a_score_dispute(store, built):
    from callqa.pipeline.qa.disputes import DisputeError, decide_dispute, dispute_counts, disputes, raise_dispute

    comp = next(c for c in store.get("blue-bad-en")["competencies"] if c["score"] is not None)
    d = raise_dispute(store, "blue-bad-en", "score", comp["id"], author="olga", comment="  I did   listen ")
    assert d["status"] == "open" and d["comment"] == "I did listen" and d["operator_id"] == "op-b1"
    assert d["team"] == "blue" and d["current"] and d["disputed"] == {"score": comp["score"], "level": comp["level"]}
    with pytest.raises(DisputeError, match="already has an open dispute"):
        raise_dispute(store, "blue-bad-en", "score", comp["id"], author="olga", comment="again")
    with pytest.raises(DisputeError, match="needs the new score"):
        decide_dispute(store, d["dispute_id"], "accepted", author="sam")
    with pytest.raises(DisputeError, match="needs a reason"):
        decide_dispute(store, d["dispute_id"], "rejected", author="sam", comment=" ")
    done = decide_dispute(store, d["dispute_id"], "accepted", author="sam", value={"score": 80.0, "level": 3})
    assert done["status"] == "accepted" and done["decided_by"] == "sam"
    assert done["decided_value"] == {"score": 80.0, "level": 3}
    [ov] = store.latest_reviews("score_override", call_ids=["blue-bad-en"])
    assert ov["review_id"] == done["review_id"] and ov["value"] == {"score": 80.0, "level": 3}
    assert ov["comment"] == "dispute accepted: I did listen"  # the operator's reason when the supervisor adds none
    assert ov["analysis_id"] == store.get("blue-bad-en")["analysis_id"]
    with pytest.raises(DisputeError, match="already accepted by sam"):
        decide_dispute(store, d["dispute_id"], "rejected", author="rex", comment="no")
    steps = store.query("SELECT step, author, created_at FROM disputes ORDER BY created_at")
    assert [(s["step"], s["author"]) for s in steps] == [("raised", "olga"), ("accepted", "sam")]
    assert steps[0]["created_at"] <= steps[1]["created_at"]
    # the Parquet copy follows every step
    assert pl.read_parquet(store.parquet_dir / "disputes.parquet").height == 2
    # a later dispute sees the corrected score
    again = raise_dispute(store, "blue-bad-en", "score", comp["id"], author="olga", comment="now too high?")
    assert again["disputed"]["score"] == 80.0 and again["disputed"]["overridden"]
    assert dispute_counts(disputes(store)) == {"op-b1": {"raised": 2, "open": 1, "accepted": 1, "rejected": 0}}
    assert dispute_counts(disputes(store), "team") == {"blue": {"raised": 2, "open": 1, "accepted": 1,
                                                                "rejected": 0}}


def test_flag_dispute_and_bad_requests(store):
    from callqa.pipeline.qa.disputes import DisputeError, decide_dispute, disputes, raise_dispute

    flag = store.get("red-bad-en")["flags"][0]["id"]
    with pytest.raises(DisputeError, match="no flag"):
        raise_dispute(store, "red-bad-en", "flag", "no_such_flag", author="oleg", comment="x")
    with pytest.raises(DisputeError, match="no competency"):
        raise_dispute(store, "red-bad-en", "score", "no_such", author="oleg", comment="x")
    with pytest.raises(DisputeError, match="needs a comment"):
        raise_dispute(store, "red-bad-en", "flag", flag, author="oleg", comment="")
    with pytest.raises(DisputeError, match="no analysed call"):
        raise_dispute(store, "nope", "flag", flag, author="oleg", comment="x")
    with pytest.raises(DisputeError, match="reprocessed"):
        raise_dispute(store, "red-bad-en", "flag", flag, author="oleg", comment="x", analysis_id="a-old")
    d = raise_dispute(store, "red-bad-en", "flag", flag, author="oleg", comment="the client was fine")
    decide_dispute(store, d["dispute_id"], "accepted", author="rex", comment="Agreed")
    assert flag not in {f["flag_id"] for f in store.flags(call_id="red-bad-en")}
    assert disputes(store, status="accepted")[0]["decision_comment"] == "Agreed"
    assert disputes(store, call_ids=["blue-bad-en"]) == []


def test_reprocessing_leaves_the_dispute_on_an_earlier_analysis(store):
    from callqa.pipeline.qa.disputes import DisputeError, decide_dispute, disputes, raise_dispute

    comp = next(c for c in store.get("blue-good-en")["competencies"] if c["score"] is not None)
    d = raise_dispute(store, "blue-good-en", "score", comp["id"], author="omar", comment="x")
    store.save({**store.get("blue-good-en", with_reviews=False), "analysis_id": "a-new"})
    [again] = disputes(store, call_ids=["blue-good-en"])
    assert not again["current"] and again["analysis_id"] == d["analysis_id"] != "a-new"
    with pytest.raises(DisputeError, match="can only be rejected"):
        decide_dispute(store, d["dispute_id"], "accepted", author="sam", value={"score": 90})
    assert store.latest_reviews("score_override", call_ids=["blue-good-en"]) == []
    assert decide_dispute(store, d["dispute_id"], "rejected", author="sam", comment="re-analysed")["status"] \
        == "rejected"


def test_a_version_2_store_gains_the_disputes_table(tmp_path, built):
    from callqa.pipeline.qa.disputes import disputes, raise_dispute
    from callqa.pipeline.store.db import STORE_SCHEMA_VERSION, TABLES, Store

    assert STORE_SCHEMA_VERSION >= 3  # disputes came with version 3
    result = Store(built["store"]).get("blue-bad-en", with_reviews=False)
    root = tmp_path / "v2"
    Store(root).save(result)
    con = duckdb.connect(str(root / "callqa.duckdb"))
    con.execute("DROP TABLE disputes")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    store = Store(root)
    assert store.query("SELECT value FROM meta WHERE key = 'schema_version'")[0]["value"] == str(STORE_SCHEMA_VERSION)
    cols = [r["column_name"] for r in store.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'disputes' ORDER BY ordinal_position")]
    assert cols == [c for c, _ in TABLES["disputes"]]
    assert disputes(store) == [] and store.get("blue-bad-en")["analysis_id"] == result["analysis_id"]
    flag = result["flags"][0]["id"]
    assert raise_dispute(store, "blue-bad-en", "flag", flag, author="olga", comment="x")["status"] == "open"
