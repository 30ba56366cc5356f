"""Reviews are tied to the analysis they judged (issue 10, item 4), grades count every
override, the library is curated (item 7), and no phone-number call id leaves the web
app (item 6): through `process_call`, the store and the web app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from test_web_store import BAD_EN, GOOD_EN, PASSWORD

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

HTML = {"accept": "text/html"}
PHONE_RUN = re.compile(r"\d{7,}")


def _process(tmp: Path, call_id: str, turns, config, *, team="blue", operator="op-1", scenario="card_block",
             started_at="2026-11-03T09:15:00") -> dict:
    from callqa.pipeline.process import process_call

    src = tmp / f"{call_id}.json"
    src.write_text(json.dumps({"call_id": call_id, "language": "en", "operator_id": operator, "role": "inbound",
                               "team": team, "started_at": started_at, "scenario": scenario, "turns": turns},
                              ensure_ascii=False), encoding="utf-8")
    return process_call(src, config).serialize()


def _client(store_path: Path, config, role="admin", teams=()) -> TestClient:
    from callqa.users import UserDB
    from callqa.web import create_app

    users = UserDB(store_path)
    if users.get("ada") is None:
        users.add("ada", role, PASSWORD, teams)
    client = TestClient(create_app(store_path, config))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    return client


def _token(client: TestClient, page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(page, headers=HTML).text).group(1)


@pytest.fixture(scope="module")
def configs():
    from callqa.pipeline.config import load_config

    a = load_config()
    b = load_config(overrides={"grading": {"nomination": {"min_score": 85}}})  # another analysis of the same call
    return a, b


# ---------------------------------------------------------------- reviews and analyses

def test_review_on_an_earlier_analysis_is_kept_but_no_longer_applied(tmp_path, configs):
    from callqa.pipeline.store.db import Store

    config_a, config_b = configs
    store = Store(tmp_path / "store")
    first = _process(tmp_path, "blue-bad-en", BAD_EN, config_a)
    store.save(first)
    assert first["analysis_id"].startswith("a-") and first["transcript_id"].startswith("t-")
    assert store.calls()[0]["analysis_id"] == first["analysis_id"]
    target = next(c for c in first["competencies"] if c["score"] is not None and c["level"] != 4)
    flag = first["flags"][0]["id"]

    client = _client(store.path, config_a)
    r = client.post("/calls/blue-bad-en/override", data={
        "csrf_token": _token(client, "/calls/blue-bad-en"), "competency": target["id"], "score": "95",
        "comment": "the operator handled it well", "analysis_id": first["analysis_id"]}, follow_redirects=False)
    assert r.status_code == 303
    client.post("/calls/blue-bad-en/flags", data={"csrf_token": _token(client, "/calls/blue-bad-en"), "flag": flag,
                                                   "decision": "dismissed", "analysis_id": first["analysis_id"]})
    review = store.reviews("blue-bad-en")[0]
    assert review["analysis_id"] == first["analysis_id"] and review["current"]
    applied = {c["id"]: c for c in next(store.results(config=config_a))["competencies"]}
    assert applied[target["id"]]["score"] == 95 and applied[target["id"]]["level"] == 4  # the level follows the score
    assert flag not in {f["flag_id"] for f in store.flags()}  # dismissed
    page = client.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    assert "on an earlier analysis" not in page

    # reprocessed with another configuration: a new analysis, judged by nobody yet
    second = _process(tmp_path, "blue-bad-en", BAD_EN, config_b)
    assert second["analysis_id"] != first["analysis_id"] and second["transcript_id"] == first["transcript_id"]
    store.save(second)
    auto = {c["id"]: c for c in second["competencies"]}
    now = {c["id"]: c for c in next(store.results(config=config_b))["competencies"]}
    assert now[target["id"]]["score"] == auto[target["id"]]["score"] and "override" not in now[target["id"]]
    assert flag in {f["flag_id"] for f in store.flags()}  # back in the queue
    reviews = store.reviews("blue-bad-en")
    assert len(reviews) == 2 and not any(r["current"] for r in reviews)
    assert store.latest_reviews(call_ids=["blue-bad-en"]) == []
    assert len(store.latest_reviews(call_ids=["blue-bad-en"], current_only=False)) == 2

    client = _client(store.path, config_b)
    page = client.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    listed = page[page.index('id="override-list"'):]
    assert "on an earlier analysis" in listed and "the operator handled it well" in listed
    earlier = page[page.index('id="earlier-reviews"'):]
    assert "Decisions on an earlier analysis" in earlier and 'data-target="' + flag + '"' in earlier
    assert "по предыдущему анализу" in client.get("/calls/blue-bad-en?lang=ru", headers=HTML).text
    # a form made on the old analysis is refused, not applied to the new one
    before = len(store.reviews("blue-bad-en"))
    client.post("/calls/blue-bad-en/override", data={
        "csrf_token": _token(client, "/calls/blue-bad-en"), "competency": target["id"], "score": "95",
        "comment": "stale page", "analysis_id": first["analysis_id"]}, follow_redirects=False)
    assert len(store.reviews("blue-bad-en")) == before
    assert "while you were looking at it" in client.get("/calls/blue-bad-en?lang=en", headers=HTML).text


def test_old_store_is_migrated_and_its_reviews_keep_applying(tmp_path, configs):
    """A version-1 store (no analysis ids anywhere) opens as version 2: the columns are
    added and filled from the stored results; reviews of the stored analysis still apply."""
    from callqa.pipeline.store.db import TABLES, Store

    config_a, config_b = configs
    result = _process(tmp_path, "c-1", BAD_EN, config_a)
    target = next(c for c in result["competencies"] if c["score"] is not None)
    new_cols = {("calls", "transcript_id"), ("calls", "analysis_id"), ("results", "transcript_id"),
                ("results", "analysis_id"), ("reviews", "analysis_id"), ("nominations", "competencies")}
    root = tmp_path / "old"
    root.mkdir()
    con = duckdb.connect(str(root / "callqa.duckdb"))
    for name, cols in TABLES.items():
        ddl = ", ".join(f'"{c}" {t}' for c, t in cols if (name, c) not in new_cols)
        con.execute(f'CREATE TABLE "{name}" ({ddl})')
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO calls (call_id, identity, status, team, operator_id, started_at) "
                "VALUES ('c-1', 'id-1', 'ok', 'blue', 'op-1', '2026-11-03T09:15:00')")
    con.execute("INSERT INTO results VALUES ('c-1', ?)", [json.dumps(result)])
    con.execute("INSERT INTO competencies VALUES ('c-1', ?, ?, ?, [])", [target["id"], target["score"], target["level"]])
    con.execute("INSERT INTO nominations VALUES ('c-1', 0, 'active_listening', 'card_block', 91, 'high_score', '{}')")
    con.execute("INSERT INTO reviews VALUES ('r1', 'c-1', 'score_override', ?, NULL, '{\"level\": 4}', 'sam', 'x', "
                "'id-1', now()::TIMESTAMP)", [target["id"]])
    con.execute("INSERT INTO reviews VALUES ('r0', 'c-1', 'flag', 'escalation', 'dismissed', NULL, 'sam', NULL, "
                "'id-0', now()::TIMESTAMP)")  # made on an analysis replaced before the upgrade
    con.close()

    store = Store(root)
    from callqa.pipeline.store.db import STORE_SCHEMA_VERSION

    version = store.query("SELECT value FROM meta WHERE key = 'schema_version'")[0]["value"]
    assert version == str(STORE_SCHEMA_VERSION)  # 1 -> current in one go
    call = store.calls()[0]
    assert call["analysis_id"] == result["analysis_id"] and call["transcript_id"] == result["transcript_id"]
    reviews = {r["review_id"]: r for r in store.reviews("c-1")}
    assert reviews["r1"]["analysis_id"] == result["analysis_id"] and reviews["r1"]["current"]
    assert reviews["r0"]["analysis_id"] is None and not reviews["r0"]["current"]
    comp = next(c for c in next(store.results(config=config_a))["competencies"] if c["id"] == target["id"])
    assert comp["level"] == 4 and comp["override"]["original"]["score"] == target["score"]
    assert store.nominations()[0]["competencies"] == ["active_listening"]
    # the migrated store takes new analyses as usual
    store.save(_process(tmp_path, "c-1", BAD_EN, config_b))
    assert not any(r["current"] for r in store.reviews("c-1"))


def test_a_newer_store_is_refused(tmp_path):
    from callqa.pipeline.store.db import Store, StoreError

    Store(tmp_path).calls()
    con = duckdb.connect(str(tmp_path / "callqa.duckdb"))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path).calls()


# ---------------------------------------------------------------- overrides in grades

def test_level_only_override_moves_the_period_grade_and_a_score_sets_the_level(tmp_path, configs):
    from callqa.pipeline.people.grades import competency_frame, grade_frame
    from callqa.pipeline.store.db import Store

    config, _ = configs
    cmap = config.section("competency_map")
    store = Store(tmp_path / "store")
    for i in range(5):
        store.save(_process(tmp_path, f"bad-{i}", BAD_EN, config, started_at=f"2026-11-0{i + 2}T10:00:00"))
    comp = next(c["id"] for c in store.get("bad-0")["competencies"] if c["score"] is not None
                and c["level"] is not None and c["level"] < 3)

    def grade():
        frame = competency_frame(store.results(config=config))
        return next(r for r in grade_frame(frame, config, "2026-Q4").iter_rows(named=True) if r["competency"] == comp)

    before = grade()
    for i in range(3):  # a supervisor rates three of the five calls a level 4
        store.add_review(f"bad-{i}", "score_override", author="sam", target=comp, value={"level": 4})
    after = grade()
    assert after["mean"] > before["mean"] and after["calls"] == before["calls"] == 5
    row = next(c for c in next(store.results(config=config))["competencies"] if c["id"] == comp)
    assert row["level"] == 4 and cmap.level_for(row["score"]) == 4  # counted as a level-4 score
    # a score alone sets the level by the map's thresholds
    store.add_review("bad-3", "score_override", author="sam", target=comp, value={"score": 55.0})
    row = next(c for r in store.results(config=config) if r["call_id"] == "bad-3"
               for c in r["competencies"] if c["id"] == comp)
    assert row["score"] == 55.0 and row["level"] == cmap.level_for(55.0) == 2


def test_override_form_takes_the_level_from_the_score(tmp_path, configs):
    from callqa.pipeline.store.db import Store

    config, _ = configs
    store = Store(tmp_path / "store")
    store.save(_process(tmp_path, "blue-bad-en", BAD_EN, config))
    comp = next(c["id"] for c in store.get("blue-bad-en")["competencies"] if c["score"] is not None)
    client = _client(store.path, config)
    page = "/calls/blue-bad-en"
    client.post(page + "/override", data={"csrf_token": _token(client, page), "competency": comp, "score": "81",
                                          "level": "1", "comment": "mismatch"}, follow_redirects=False)
    assert "different level" in client.get(page + "?lang=en", headers=HTML).text
    assert store.reviews("blue-bad-en") == []
    client.post(page + "/override", data={"csrf_token": _token(client, page), "competency": comp, "score": "81",
                                          "comment": "fine"})
    assert store.reviews("blue-bad-en")[0]["value"] == {"score": 81.0, "level": 3}  # 70 <= 81 < 85


# ---------------------------------------------------------------- overall score

def test_one_overall_score_everywhere(configs):
    from test_grades import result

    from callqa.pipeline.scoring.competency import overall_score
    from callqa.pipeline.people.grades import competency_frame, frame_overall, operator_grade
    from callqa.pipeline.people.validate import operator_period_means

    config, _ = configs
    calls = [result("a", "op", "2026-11-02T10:00:00", {"needs_discovery": 40.0, "clear_speech": 90.0}),
             result("b", "op", "2026-11-03T10:00:00", {"needs_discovery": 60.0, "clear_speech": None,
                                                       "active_listening": 70.0})]
    frame = competency_frame(calls)
    by_hand = overall_score([("needs_discovery", 50.0), ("clear_speech", 90.0), ("active_listening", 70.0)],
                            config, "inbound")
    assert by_hand == pytest.approx((50 + 90 + 70) / 3)  # inbound weighs these competencies alike
    assert operator_grade(frame, "op", "2026-Q4", config).overall == pytest.approx(by_hand)
    assert frame_overall(frame, config) == pytest.approx(by_hand)
    means = operator_period_means(frame, ["2026-Q4"], config)
    assert means.filter(means["competency"] == "overall")["mean"].to_list() == [pytest.approx(by_hand)]
    # a call's overall (scoring) is the same function over its competencies
    assert overall_score(calls[0]["competencies"], config, "inbound") == pytest.approx(65.0)


# ---------------------------------------------------------------- curated library

def test_one_nomination_per_call_and_the_library_is_capped(tmp_path, configs):
    from callqa.pipeline.people.library import decide, library_items
    from callqa.pipeline.store.db import Store

    config, _ = configs
    store = Store(tmp_path / "store")
    for i in range(7):
        store.save(_process(tmp_path, f"good-{i}", GOOD_EN, config, scenario="card_block" if i < 5 else "billing",
                            operator=f"op-{i}"))
    store.save(_process(tmp_path, "bad", BAD_EN, config))
    noms = store.nominations()
    assert sorted(n["call_id"] for n in noms) == [f"good-{i}" for i in range(7)]  # one per call, not per competency
    shown = noms[0]["competencies"]
    assert len(shown) > 3  # each lists the competencies the call shows
    # at most `cap` pending calls per competency and scenario
    items = library_items(store, status="pending", config=config, cap=2)
    assert {i.call_id for i in items} == {"good-0", "good-1", "good-5", "good-6"}  # equal scores: by call id
    for comp in shown:
        for scenario in ("card_block", "billing"):
            got = library_items(store, status="pending", competency=comp, scenario=scenario, config=config, cap=2)
            assert len(got) == 2 and all(i.competency == comp for i in got)
    default = config.section("library").per_competency_scenario
    assert len(library_items(store, status="pending", competency=shown[0], scenario="card_block",
                             config=config)) == min(default, 5)
    # deciding takes a call out of the pending list and lets the next best in
    decide(store, "good-0", None, "rejected", author="tia")
    items = library_items(store, status="pending", config=config, cap=2)
    assert "good-0" not in {i.call_id for i in items} and "good-2" in {i.call_id for i in items}
    assert [i.call_id for i in library_items(store, status="rejected", config=config)] == ["good-0"]


def test_library_ranks_best_first_within_the_cap(tmp_path):
    from callqa.pipeline.people.library import library_items
    from callqa.pipeline.store.db import Store

    store = Store(tmp_path)

    def call(cid, score, difficult=False):
        nom = {"competency": "empathy", "score": score, "difficult": difficult, "turned_positive": difficult,
               "client_end": 0.5, "reason": "difficult_turned_positive" if difficult else "high_score",
               "competencies": [{"id": "empathy", "score": score}]}
        store.save({"call_id": cid, "status": "ok", "team": "t", "scenario": "refund", "difficult": difficult,
                    "competencies": [], "flags": [], "nominations": [nom]})

    call("a", 85.0)
    call("b", 97.0)
    call("c", 90.0)
    call("d", 82.0, difficult=True)
    assert [i.call_id for i in library_items(store, status="pending", cap=3)] == ["d", "b", "c"]


# ---------------------------------------------------------------- privacy of call ids

def test_api_and_links_carry_no_phone_number(tmp_path, configs):
    from callqa.pipeline.store.db import Store

    config, _ = configs
    store = Store(tmp_path / "store")
    phone_bad, phone_good = "+79161234567", "79035556677_2026-11-03"
    store.save(_process(tmp_path, phone_bad, BAD_EN, config))
    store.save(_process(tmp_path, phone_good, GOOD_EN, config))
    client = _client(store.path, config)

    queue = client.get("/api/queue").json()
    library = client.get("/api/library?status=pending").json()
    assert queue["rows"] and library
    for text in (json.dumps(queue), json.dumps(library), client.get("/queue", headers=HTML).text,
                 client.get("/library?status=pending", headers=HTML).text):
        assert not PHONE_RUN.search(re.sub(r"a-[0-9a-f]{16}|t-[0-9a-f]{16}", "", text)), PHONE_RUN.search(text)
        digits = re.sub(r"\D", "", text)
        assert "9161234567" not in digits and "9035556677" not in digits
    row = queue["rows"][0]
    assert row["call_id"].endswith("67") and "*" in row["call_id"]
    assert row["key"].startswith("c-") and row["url"] == f"/calls/{row['key']}"
    # the opaque key opens the call, its audio route and its API; the stored id still works
    assert client.get(row["url"], headers=HTML).status_code == 200
    api = client.get(f"/api/calls/{row['key']}").json()
    assert api["key"] == row["key"] and not PHONE_RUN.search(json.dumps(api["call_id"]))
    assert client.get("/calls/%2B79161234567", headers=HTML).status_code == 200
    # forms work by key: decide and export the nominated call
    item = library[0]
    page = "/library?status=pending"
    r = client.post("/library/decide", data={"csrf_token": _token(client, page), "call_id": item["key"],
                                             "decision": "approved", "analysis_id": item["analysis_id"]},
                    follow_redirects=False)
    assert r.status_code == 303 and store.nominations()[0]["status"] == "approved"
    r = client.post("/library/export", data={"csrf_token": _token(client, page), "item": [item["key"]]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert client.get("/calls/c-" + "a" * 24, headers=HTML).status_code == 404
