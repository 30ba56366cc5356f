"""The weekly review sample: a fair share per operator, strata with their shares, reproducible
draws, a stored plan that stays put, coverage, each supervisor's list, and `callqa sample`."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from callqa.pipeline.qa.sampling import CallInfo, draw, quotas, sample_week, supervisor_lists, to_review
from callqa.users import UserDB

TX = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"
WEEK = "2026-W48"
MONDAY = date.fromisocalendar(2026, 48, 1)
PASSWORD = "correct horse 42"

# operator -> (team, [(kind, day of the week or None, low ASR confidence)])
#   bad: forbidden phrase (high) + others; calm: escalation (medium) and nominated; good: nominated, no flag
OPERATORS = {
    "op-a": ("blue", [("bad", 0, False), ("bad", 1, False), ("calm", 1, False), ("calm", 2, False),
                      ("good", 2, True), ("good", 3, False), ("good", 3, False), ("good", 4, False),
                      ("good", 4, False), ("good", 5, False)]),
    "op-b": ("blue", [("good", 0, False), ("bad", 2, False)]),
    "op-c": ("red", [("bad", 0, False), ("good", 1, True), ("good", 2, True), ("good", 3, False),
                     ("good", 4, False), ("good", 6, False)]),
}


def _clone(base: dict, cid: str, op: str, team: str, day: int | None, low: bool, monday: date = MONDAY) -> dict:
    r = copy.deepcopy(base)
    r.update(call_id=cid, operator_id=op, team=team,
             started_at=None if day is None else f"{monday + timedelta(days=day)}T10:00:00")
    if low:  # as transcribed here with a poor line: the ASR's mean log-probability per turn
        for t in r["transcript"]["turns"]:
            t["avg_logprob"] = -1.6
    return r


@pytest.fixture(scope="module")
def week_store(tmp_path_factory):
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import process_call
    from callqa.pipeline.store.db import Store
    from callqa.users import UserDB

    config = load_config()
    base = {k: process_call(TX / f"en_{name}_tx.json", config).serialize()
            for k, name in (("bad", "bad_inbound"), ("calm", "difficult_calm"), ("good", "good_inbound"))}
    root = tmp_path_factory.mktemp("sampling")
    store = Store(root / "store")
    for op, (team, calls) in OPERATORS.items():
        for i, (kind, day, low) in enumerate(calls):
            store.save(_clone(base[kind], f"{op}-{i:02d}", op, team, day, low))
    for i in range(3):  # the week before, and one call without a start time
        store.save(_clone(base["bad"], f"op-a-prev-{i}", "op-a", "blue", i, False, MONDAY - timedelta(days=7)))
    store.save(_clone(base["good"], "op-a-undated", "op-a", "blue", None, False))
    users = UserDB(store.path)
    users.add("sam", "supervisor", PASSWORD, ["blue"])
    users.add("rex", "supervisor", PASSWORD, ["red"])
    users.add("ada", "admin", PASSWORD)
    return store, config, base


def test_quotas_follow_the_shares():
    shares = {"flagged": 0.4, "nominated": 0.1, "low_confidence": 0.2, "random": 0.3}
    assert quotas(4, shares) == {"flagged": 2, "nominated": 0, "low_confidence": 1, "random": 1}
    assert quotas(10, shares) == {"flagged": 4, "nominated": 1, "low_confidence": 2, "random": 3}
    assert sum(quotas(7, shares).values()) == 7
    assert quotas(3, {"random": 1}) == {"flagged": 0, "nominated": 0, "low_confidence": 0, "random": 3}


def test_every_operator_gets_a_fair_stratified_share(week_store):
    store, config, _ = week_store
    plan = sample_week(store, WEEK, config, save=False)
    by_op = {o.operator_id: o for o in plan.operators}
    assert set(by_op) == {"op-a", "op-b", "op-c"}  # op-a's calls of the week before are not in it
    assert (by_op["op-a"].total, by_op["op-b"].total, by_op["op-c"].total) == (10, 2, 6)
    assert [by_op[o].sampled for o in ("op-a", "op-b", "op-c")] == [4, 2, 4]  # fewer calls: all of them
    assert plan.undated == 1
    a = by_op["op-a"]
    strata = [c.stratum for c in a.calls]
    assert strata.count("flagged") == 2 and strata.count("low_confidence") == 1 and strata.count("random") == 1
    flagged = {c.call_id for c in a.calls if c.stratum == "flagged"}
    assert flagged == {"op-a-00", "op-a-01"}  # the most severe (forbidden phrase) first
    assert next(c.call_id for c in a.calls if c.stratum == "low_confidence") == "op-a-04"
    assert len({c.call_id for c in a.calls}) == 4
    c_low = {c.call_id for c in by_op["op-c"].calls if c.stratum == "low_confidence"}
    assert c_low <= {"op-c-01", "op-c-02"} and len(c_low) == 1
    # places a stratum cannot fill go on: op-c has one flagged call, so 3 more come from the others
    assert [c.stratum for c in by_op["op-c"].calls].count("flagged") == 1


def test_a_call_with_speech_left_untranscribed_is_sampled_for_its_transcript(week_store, tmp_path):
    """A call flagged untranscribed_speech (a quarter of its speech without words) is in doubt as a
    transcript, like low_asr_confidence: it goes to the low_confidence stratum, not the flagged one."""
    from callqa.pipeline.store.db import Store

    _, config, base = week_store
    store = Store(tmp_path / "store")
    lost = _clone(base["good"], "op-d-00", "op-d", "blue", 0, False)
    lost["flags"] = lost["flags"] + [{"id": "untranscribed_speech", "severity": "low", "reason": "40 s of 90 s",
                                      "evidence": [{"start": 10.0, "end": 50.0, "speaker": "operator", "quote": ""}]}]
    lost["nominations"] = []  # a flagged call is not nominated
    store.save(lost)
    for i in range(1, 6):
        store.save(_clone(base["good"], f"op-d-{i:02d}", "op-d", "blue", i % 5, False))
    plan = sample_week(store, WEEK, config, save=False)
    (op,) = plan.operators
    assert [c.call_id for c in op.calls if c.stratum == "low_confidence"] == ["op-d-00"]
    assert not any(c.stratum == "flagged" for c in op.calls)


def test_the_draw_is_reproducible_and_seeded(week_store):
    store, config, _ = week_store
    first = sample_week(store, WEEK, config, save=False).serialize()
    again = sample_week(store, WEEK, config, save=False).serialize()
    assert first == again
    draws = {json.dumps(sample_week(store, WEEK, config, seed=s, save=False).serialize()["operators"])
             for s in range(6)}
    assert len(draws) > 1  # other seeds draw other random calls
    pool = [CallInfo(f"c{i}", "op", "t", None, frozenset()) for i in range(20)]
    assert [p.call_id for p in draw(pool, WEEK, 5, {"random": 1}, 3)] == \
        [p.call_id for p in draw(list(reversed(pool)), WEEK, 5, {"random": 1}, 3)]  # input order does not matter


def test_a_stored_plan_stays_put_and_coverage_counts_reviews(week_store, tmp_path):
    from callqa.pipeline.qa.forms import save_human_answer
    from callqa.pipeline.store.db import Store

    src, config, base = week_store
    store = Store(tmp_path / "store")  # a copy of the store: this test adds calls and reviews
    for r in src.results(apply_overrides=False):
        store.save(r)
    plan = sample_week(store, WEEK, config)
    a = next(o for o in plan.operators if o.operator_id == "op-a")
    picked = [c.call_id for c in a.calls]
    # more calls arrive later in the week, and a new operator starts
    store.save(_clone(base["bad"], "op-a-late", "op-a", "blue", 6, False))
    store.save(_clone(base["bad"], "op-d-00", "op-d", "red", 6, False))
    later = sample_week(store, WEEK, config)
    assert later.stored
    by_op = {o.operator_id: o for o in later.operators}
    assert [c.call_id for c in by_op["op-a"].calls] == picked and by_op["op-a"].total == 11
    assert [c.call_id for c in by_op["op-d"].calls] == ["op-d-00"]
    # people review: a review, a form answer, and a call outside the sample
    store.add_review(picked[0], "review", author="sam", status="reviewed")
    save_human_answer(store, picked[1], "inbound_checklist", "correct_information", "yes", author="sam",
                      config=config)
    outside = next(f"op-a-{i:02d}" for i in range(10) if f"op-a-{i:02d}" not in picked)
    store.add_review(outside, "review", author="sam", status="reviewed")
    cov = {o.operator_id: o.serialize() for o in sample_week(store, WEEK, config).operators}
    assert (cov["op-a"]["reviewed"], cov["op-a"]["sampled"], cov["op-a"]["total"]) == (2, 4, 11)
    assert cov["op-a"]["coverage"] == 0.5 and cov["op-a"]["reviewed_any"] == 3
    assert cov["op-b"]["reviewed"] == 0
    # a team nobody supervises: its sample is on nobody's list, and said so
    from callqa.pipeline.qa.sampling import unassigned
    from callqa.users import UserDB

    UserDB(store.path).add("rex", "supervisor", PASSWORD, ["red"])
    UserDB(store.path).add("sam", "supervisor", PASSWORD, ["blue"])
    store.save(_clone(base["good"], "op-e-00", "op-e", "green", 3, False))
    plan = sample_week(store, WEEK, config)
    assert [r["call_id"] for r in unassigned(plan, UserDB(store.path).supervisors())] == ["op-e-00"]
    assert all(r["call_id"] != "op-e-00"
               for rows in supervisor_lists(plan, UserDB(store.path).supervisors()).values() for r in rows)
    # replace: drawn again from every call of the week
    redrawn = sample_week(store, WEEK, config, replace=True)
    assert not redrawn.stored and next(o for o in redrawn.operators if o.operator_id == "op-a").sampled == 4


def test_each_supervisor_sees_the_unreviewed_sample_of_their_teams(week_store):
    store, config, _ = week_store
    plan = sample_week(store, WEEK, config, save=False)
    lists = supervisor_lists(plan, UserDB(store.path).supervisors())
    assert set(lists) == {"sam", "rex"}
    assert {r["operator_id"] for r in lists["sam"]} == {"op-a", "op-b"} and len(lists["sam"]) == 6
    assert {r["operator_id"] for r in lists["rex"]} == {"op-c"} and len(lists["rex"]) == 4
    assert all(r["team"] == "blue" for r in lists["sam"])
    starts = [r["started_at"] for r in lists["sam"]]
    assert starts == sorted(starts)
    assert len(to_review(plan, None)) == 10
    from callqa.pipeline.qa.sampling import unassigned

    assert unassigned(plan, UserDB(store.path).supervisors()) == []
    # a disabled supervisor has no list, and their team's calls are nobody's
    UserDB(store.path).update("rex", disabled=True)
    assert set(UserDB(store.path).supervisors()) == {"sam"}
    assert {r["operator_id"] for r in unassigned(plan, UserDB(store.path).supervisors())} == {"op-c"}
    UserDB(store.path).update("rex", disabled=False)


def test_cli_sample(week_store, capsys):
    from callqa.cli import main

    store, _, _ = week_store
    assert main(["sample", "--store", str(store.path), "--week", "2026-w48", "--per-operator", "3",
                 "--dry-run", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["week"] == WEEK and [o["sampled"] for o in data["operators"]] == [3, 2, 3]
    assert set(data["to_review"]) == {"sam", "rex"} and data["unassigned"] == []
    assert main(["sample", "--store", str(store.path), "--week", WEEK, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "op-a" in out and "sam" in out and "to review" in out
    assert main(["sample", "--store", str(store.path), "--week", "2026-13"]) == 2
    assert "not an ISO week" in capsys.readouterr().err
    assert main(["sample", "--store", str(store.path / "nope"), "--week", WEEK]) == 2


def test_qa_tables_come_back_when_the_database_is_replaced(week_store, tmp_path):
    import shutil

    from callqa.pipeline.store.db import Store

    src, config, _ = week_store
    store = Store(tmp_path / "store")
    store.save(next(src.results(apply_overrides=False)))
    assert sample_week(store, WEEK, config, save=False).week == WEEK
    shutil.rmtree(store.path)  # a new store at the same place, without the QA tables yet
    fresh = Store(tmp_path / "store")
    fresh.save(next(src.results(apply_overrides=False)))
    assert [o.sampled for o in sample_week(fresh, WEEK, config).operators] == [1]
