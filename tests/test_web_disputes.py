"""The operator role and disputes through the web app (issue 14, item 1): an operator sees
only their own calls, audio, scores, scorecard and disputes; disputes a score or a flag;
the supervisor of the call's team accepts (the score is overridden, the level follows)
or rejects with a reason; the trainer cannot decide; other teams and other operators get
404; after reprocessing a dispute is listed as on an earlier analysis."""

from __future__ import annotations

import shutil

import pytest
from test_web_api import HTML, csrf_of, login, token
from test_web_store import build_web_store

pytest.importorskip("fastapi")

# operator user -> operator id (calls of op-b1: blue-bad-en, blue-bad-ru, blue-good-en-2;
# op-b2: blue-good-en; op-r1: red-bad-en, red-good-en)
OPERATORS = {"olga": "op-b1", "omar": "op-b2", "oleg": "op-r1"}
OWN = {"olga": {"blue-bad-en", "blue-bad-ru", "blue-good-en-2"}, "omar": {"blue-good-en"},
       "oleg": {"red-bad-en", "red-good-en"}}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_web_store(tmp_path_factory)


@pytest.fixture(scope="module")
def app(built, tmp_path_factory):
    from callqa.users import UserDB
    from callqa.web import create_app

    from test_web_store import PASSWORD

    store = tmp_path_factory.mktemp("disputes") / "store"
    shutil.copytree(built["store"], store)  # disputes change the store: our own copy
    users = UserDB(store)
    for name, op in OPERATORS.items():
        users.add(name, "operator", PASSWORD, operator_id=op)
    return create_app(store, built["config"])


@pytest.fixture(scope="module")
def clients(app):
    return {name: login(app, name) for name in ("olga", "omar", "oleg", "sam", "rex", "tia", "ada")}


def _scored(store, call_id: str) -> dict:
    return next(c for c in store.get(call_id)["competencies"] if c["score"] is not None)


def _dispute(client, call_id: str, target: str, comment: str, analysis_id: str | None = None):
    data = {"csrf_token": token(client), "target": target, "comment": comment}
    if analysis_id is not None:
        data["analysis_id"] = analysis_id
    return client.post(f"/calls/{call_id}/disputes", data=data, follow_redirects=False)


# ---------------------------------------------------------------- what an operator sees

def test_operator_sees_only_their_own_calls(app, clients, built):
    olga = clients["olga"]
    assert olga.get("/api/me").json()["operator_id"] == "op-b1"
    rows = olga.get("/api/queue").json()["rows"]
    assert {r["call_id"] for r in rows} == OWN["olga"]  # every own call, flagged or not
    assert all(r["overall"] is None or 0 <= r["overall"] <= 100 for r in rows)
    page = olga.get("/queue?lang=en", headers=HTML).text
    assert "My calls" in page and "Review queue" not in page
    assert 'href="/library"' not in page and 'href="/dashboard"' not in page  # no links to what is not theirs
    assert 'href="/operators/op-b1"' in page
    for cid in OWN["olga"]:
        assert f"/calls/{cid}" in page
    # own call: page with scores, evidence and flags; JSON; audio
    call = olga.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    assert 'id="competencies"' in call and 'id="flags"' in call and 'class="ts ev"' in call
    assert 'id="dispute-form"' in call
    assert 'action="/calls/blue-bad-en/override"' not in call and 'action="/calls/blue-bad-en/flags"' not in call
    assert olga.get("/api/calls/blue-bad-en").json()["operator_id"] == "op-b1"
    audio = olga.get("/calls/blue-bad-en/audio")
    assert audio.status_code == 200 and audio.content == built["audio"]["blue-bad-en"].read_bytes()
    # own scorecard with the development plan and progress over time
    card = olga.get("/operators/op-b1?lang=en", headers=HTML).text
    assert "Operator op-b1" in card and "Development plan" in card and 'id="dispute-counts"' in card


@pytest.mark.parametrize("name", ["olga", "omar", "oleg"])
def test_operator_never_sees_another_operators_call_audio_scores_or_scorecard(clients, name):
    client = clients[name]
    others = set().union(*OWN.values()) - OWN[name]
    for cid in others:
        assert client.get(f"/calls/{cid}", headers=HTML).status_code == 404, cid
        assert client.get(f"/api/calls/{cid}").status_code == 404, cid
        r = client.get(f"/calls/{cid}/audio")
        assert r.status_code == 404 and b"RIFF" not in r.content, cid
        assert _dispute(client, cid, "flag:forbidden_phrase", "not mine").status_code == 404, cid
    for op in set(OPERATORS.values()) - {OPERATORS[name]}:
        assert client.get(f"/operators/{op}", headers=HTML).status_code == 404, op
    rows = client.get("/api/queue").json()["rows"]
    assert {r["call_id"] for r in rows} == OWN[name]


def test_operator_has_no_library_dashboard_overrides_or_reviews(clients):
    olga = clients["olga"]
    tok = token(olga)
    assert olga.get("/library", headers=HTML).status_code == 403
    assert olga.get("/api/library").status_code == 403
    assert olga.get("/dashboard", headers=HTML).status_code == 403
    assert olga.post("/calls/blue-bad-en/override", data={"csrf_token": tok, "competency": "active_listening",
                                                          "score": "99", "comment": "me"}).status_code == 403
    assert olga.post("/calls/blue-bad-en/flags", data={"csrf_token": tok, "flag": "forbidden_phrase",
                                                       "decision": "dismissed"}).status_code == 403
    assert olga.post("/calls/blue-bad-en/review", data={"csrf_token": tok, "status": "reviewed"}).status_code == 403
    assert olga.post("/library/decide", data={"csrf_token": tok, "call_id": "blue-good-en-2",
                                              "decision": "approved"}).status_code == 403
    assert olga.post("/library/export", data={"csrf_token": tok, "item": ["blue-bad-en"]}).status_code == 403


# ---------------------------------------------------------------- a score dispute, accepted

def test_score_dispute_accepted_overrides_the_score_and_the_operator_sees_it(app, clients, built):
    from callqa.pipeline.store.db import Store

    store: Store = app.state.ctx.store
    cmap = built["config"].section("competency_map")
    olga, omar, sam, rex, tia = (clients[n] for n in ("olga", "omar", "sam", "rex", "tia"))
    comp = _scored(store, "blue-bad-en")
    analysis = store.get("blue-bad-en")["analysis_id"]
    r = _dispute(olga, "blue-bad-en", f"score:{comp['id']}", "I did listen: I repeated the problem at 0:09",
                 analysis)
    assert r.status_code == 303 and r.headers["location"].endswith("#disputes")
    assert "Dispute sent to your supervisor." in olga.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    mine = olga.get("/api/disputes").json()
    d = next(x for x in mine if x["target"] == comp["id"])
    assert d["status"] == "open" and d["kind"] == "score" and d["current"] and d["analysis_id"] == analysis
    assert d["disputed"]["score"] == comp["score"] and d["raised_by"] == "olga" and d["raised_at"]
    # nobody outside op-b1's team (and no other operator) sees it
    assert omar.get("/api/disputes").json() == [] and clients["oleg"].get("/api/disputes").json() == []
    assert d["dispute_id"] not in {x["dispute_id"] for x in rex.get("/api/disputes").json()}
    # the supervisor of team blue sees it among open disputes in the queue
    assert d["dispute_id"] in {x["dispute_id"] for x in sam.get("/api/queue").json()["disputes"]}
    queue = sam.get("/queue?lang=en", headers=HTML).text
    assert 'id="open-disputes"' in queue and f'data-dispute="{d["dispute_id"]}"' in queue
    assert "I did listen" in queue
    assert f'data-dispute="{d["dispute_id"]}"' not in rex.get("/queue?lang=en", headers=HTML).text
    # who may decide: not the other team's supervisor (404), not the trainer or the operator (403)
    url = f"/disputes/{d['dispute_id']}/decide"
    form = {"decision": "accepted", "score": "35", "comment": "Agreed"}
    assert rex.post(url, data={**form, "csrf_token": token(rex)}).status_code == 404
    assert tia.post(url, data={**form, "csrf_token": token(tia, "/library")}).status_code == 403
    assert olga.post(url, data={**form, "csrf_token": token(olga)}).status_code == 403
    assert omar.post(url, data={**form, "csrf_token": token(omar)}).status_code == 404
    assert store.latest_reviews("score_override", call_ids=["blue-bad-en"]) == []
    # the supervisor accepts with a new score: the level follows it
    page = sam.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    assert f'action="/disputes/{d["dispute_id"]}/decide"' in page
    r = sam.post(url, data={**form, "score": "72.5", "csrf_token": csrf_of(page),
                            "next": "/calls/blue-bad-en#disputes"}, follow_redirects=False)
    assert r.status_code == 303
    [ov] = store.latest_reviews("score_override", call_ids=["blue-bad-en"])
    assert ov["target"] == comp["id"] and ov["author"] == "sam" and ov["analysis_id"] == analysis
    assert ov["value"] == {"score": 72.5, "level": cmap.level_for(72.5)}
    applied = next(c for c in next(r for r in store.results() if r["call_id"] == "blue-bad-en")["competencies"]
                   if c["id"] == comp["id"])
    assert applied["score"] == 72.5 and applied["level"] == cmap.level_for(72.5)
    # the operator sees the outcome and the new score, every step with who and when
    done = next(x for x in olga.get("/api/disputes").json() if x["dispute_id"] == d["dispute_id"])
    assert done["status"] == "accepted" and done["decided_by"] == "sam" and done["decided_at"]
    assert done["decided_value"] == {"score": 72.5, "level": cmap.level_for(72.5)}
    assert [(s["step"], s["author"]) for s in done["steps"]] == [("raised", "olga"), ("accepted", "sam")]
    call = olga.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    card = call[call.index(f'data-dispute="{d["dispute_id"]}"'):]
    assert "Accepted by sam" in card and '<b class="new-score">72.5</b>' in card
    summary = call[call.index(f'data-competency="{comp["id"]}"'):]
    assert "72" in summary[:summary.index("</summary>")]  # the corrected score beside the automatic one
    mine_page = olga.get("/queue?lang=en", headers=HTML).text
    assert "accepted" in mine_page[mine_page.index('id="my-disputes"'):] and "72.5" in mine_page
    # deciding twice is refused, nothing more is stored
    r = sam.post(url, data={"decision": "rejected", "comment": "changed my mind", "csrf_token": token(sam)},
                 follow_redirects=False)
    assert r.status_code == 303
    assert "already been decided" in sam.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    assert len(store.query("SELECT * FROM disputes WHERE dispute_id = ?", [d["dispute_id"]])) == 2
    # counts per operator and per team on the scorecard and the dashboard
    assert "1 raised, 0 open, 1 accepted, 0 rejected" in olga.get("/operators/op-b1?lang=en&period=2026-Q4",
                                                                  headers=HTML).text
    dash = sam.get("/dashboard?lang=en&period=2026-Q4", headers=HTML).text
    row = dash[dash.index('data-operator="op-b1"'):]
    assert 'data-raised="1"' in row[:row.index("</tr>")]
    assert 'data-team="blue"' in dash and 'data-team="red"' not in dash


# ---------------------------------------------------------------- a flag dispute, rejected then accepted

def test_flag_dispute_rejected_needs_a_reason_then_a_new_dispute_is_accepted(app, clients):
    store = app.state.ctx.store
    olga, sam = clients["olga"], clients["sam"]
    flag = next(f["id"] for f in store.get("blue-bad-ru")["flags"])
    assert _dispute(olga, "blue-bad-ru", f"flag:{flag}", "The client asked for the branch").status_code == 303
    d = next(x for x in olga.get("/api/disputes?status=open").json() if x["target"] == flag)
    url = f"/disputes/{d['dispute_id']}/decide"
    # a rejection without a reason is refused
    r = sam.post(url, data={"decision": "rejected", "comment": "  ", "csrf_token": token(sam)}, follow_redirects=False)
    assert r.status_code == 303
    assert "reason for rejecting" in sam.get("/calls/blue-bad-ru?lang=en", headers=HTML).text
    assert next(x for x in sam.get("/api/disputes").json() if x["dispute_id"] == d["dispute_id"])["status"] == "open"
    sam.post(url, data={"decision": "rejected", "comment": "The phrase is on the forbidden list",
                        "csrf_token": token(sam)})
    done = next(x for x in olga.get("/api/disputes").json() if x["dispute_id"] == d["dispute_id"])
    assert done["status"] == "rejected" and done["decision_comment"] == "The phrase is on the forbidden list"
    assert "The phrase is on the forbidden list" in olga.get("/calls/blue-bad-ru?lang=en", headers=HTML).text
    assert flag in {f["flag_id"] for f in store.flags(call_id="blue-bad-ru")}  # still flagged
    # a closed dispute does not block a new one; accepting a flag dispute dismisses the flag
    assert _dispute(olga, "blue-bad-ru", f"flag:{flag}", "Please listen again at 0:08").status_code == 303
    again = next(x for x in olga.get("/api/disputes?status=open").json() if x["target"] == flag)
    sam.post(f"/disputes/{again['dispute_id']}/decide", data={"decision": "accepted", "csrf_token": token(sam)})
    assert flag not in {f["flag_id"] for f in store.flags(call_id="blue-bad-ru")}
    [decision] = store.latest_reviews("flag", call_ids=["blue-bad-ru"])
    assert decision["status"] == "dismissed" and decision["author"] == "sam"
    counts = olga.get("/operators/op-b1?lang=en&period=2026-Q4", headers=HTML).text
    assert "3 raised, 0 open, 2 accepted, 1 rejected" in counts


def test_dispute_form_is_checked(app, clients):
    store = app.state.ctx.store
    olga = clients["olga"]
    before = len(store.query("SELECT * FROM disputes"))
    assert _dispute(olga, "blue-good-en-2", "score:no_such_competency", "x").status_code == 400
    assert _dispute(olga, "blue-good-en-2", "flag:no_such_flag", "x").status_code == 400
    assert _dispute(olga, "blue-good-en-2", "nonsense", "x").status_code == 400
    comp = _scored(store, "blue-good-en-2")
    r = _dispute(olga, "blue-good-en-2", f"score:{comp['id']}", "   ")
    assert r.status_code == 303
    assert "say in a comment what is wrong" in olga.get("/calls/blue-good-en-2?lang=en", headers=HTML).text
    assert len(store.query("SELECT * FROM disputes")) == before
    # one open dispute per score
    assert _dispute(olga, "blue-good-en-2", f"score:{comp['id']}", "too low").status_code == 303
    assert _dispute(olga, "blue-good-en-2", f"score:{comp['id']}", "still too low").status_code == 303
    assert "already has an open dispute" in olga.get("/calls/blue-good-en-2?lang=en", headers=HTML).text
    assert len(store.query("SELECT * FROM disputes")) == before + 1
    # supervisors do not raise disputes
    assert clients["sam"].post("/calls/blue-good-en-2/disputes",
                               data={"csrf_token": token(clients["sam"]), "target": f"score:{comp['id']}",
                                     "comment": "x"}).status_code == 403
    # an accepted score dispute needs a valid score
    d = next(x for x in olga.get("/api/disputes?status=open").json() if x["call_id"] == "blue-good-en-2")
    sam = clients["sam"]
    sam.post(f"/disputes/{d['dispute_id']}/decide", data={"decision": "accepted", "score": "150",
                                                          "csrf_token": token(sam)}, follow_redirects=False)
    assert "number from 0 to 100" in sam.get("/calls/blue-good-en-2?lang=en", headers=HTML).text
    assert sam.post(f"/disputes/{d['dispute_id']}/decide", data={"decision": "maybe", "csrf_token": token(sam)}
                    ).status_code == 400
    assert sam.post("/disputes/no-such-dispute/decide", data={"decision": "rejected", "comment": "x",
                                                              "csrf_token": token(sam)}).status_code == 404
    assert sam.get("/api/disputes?status=weird").status_code == 400
    assert next(x for x in olga.get("/api/disputes").json() if x["dispute_id"] == d["dispute_id"])["status"] == "open"


def test_trainer_sees_disputes_but_admin_decides_any_team(app, clients):
    olga, oleg, tia, ada = (clients[n] for n in ("olga", "oleg", "tia", "ada"))
    store = app.state.ctx.store
    comp = _scored(store, "red-bad-en")
    assert _dispute(oleg, "red-bad-en", f"score:{comp['id']}", "I stayed calm").status_code == 303
    d = next(x for x in oleg.get("/api/disputes").json() if x["call_id"] == "red-bad-en")
    assert d["dispute_id"] not in {x["dispute_id"] for x in olga.get("/api/disputes").json()}
    assert d["dispute_id"] in {x["dispute_id"] for x in tia.get("/api/disputes").json()}
    assert 'class="dispute-decide"' not in tia.get("/calls/red-bad-en?lang=en", headers=HTML).text
    r = ada.post(f"/disputes/{d['dispute_id']}/decide", data={"decision": "rejected", "comment": "Checked",
                                                              "csrf_token": token(ada)}, follow_redirects=False)
    assert r.status_code == 303
    assert next(x for x in oleg.get("/api/disputes").json() if x["dispute_id"] == d["dispute_id"])["status"] \
        == "rejected"


# ---------------------------------------------------------------- reprocessing

def test_dispute_on_an_earlier_analysis(app, clients):
    store = app.state.ctx.store
    omar, sam = clients["omar"], clients["sam"]
    comp = _scored(store, "blue-good-en")
    old = store.get("blue-good-en", with_reviews=False)
    assert _dispute(omar, "blue-good-en", f"score:{comp['id']}", "Should be higher", old["analysis_id"]
                    ).status_code == 303
    d = next(x for x in omar.get("/api/disputes").json() if x["call_id"] == "blue-good-en")
    store.save({**old, "analysis_id": "a-reprocessed"})  # the call is analysed again
    again = next(x for x in omar.get("/api/disputes").json() if x["dispute_id"] == d["dispute_id"])
    assert again["analysis_id"] == old["analysis_id"] and not again["current"]
    page = omar.get("/calls/blue-good-en?lang=en", headers=HTML).text
    card = page[page.index(f'data-dispute="{d["dispute_id"]}"'):]
    assert "on an earlier analysis" in card[:card.index("</article>")]
    queue = sam.get("/queue?lang=en", headers=HTML).text
    row = queue[queue.index(f'data-dispute="{d["dispute_id"]}"'):]
    assert "on an earlier analysis" in row[:row.index("</tr>")]
    # a dispute raised from a page of the old analysis is refused
    r = _dispute(omar, "blue-good-en", f"score:{comp['id']}", "again", old["analysis_id"])
    assert r.status_code == 303 and "processed again" in omar.get("/calls/blue-good-en?lang=en", headers=HTML).text
    # it cannot be accepted onto the new analysis; it can be closed
    url = f"/disputes/{d['dispute_id']}/decide"
    sam.post(url, data={"decision": "accepted", "score": "90", "csrf_token": token(sam)})
    assert store.latest_reviews("score_override", call_ids=["blue-good-en"]) == []
    sam.post(url, data={"decision": "rejected", "comment": "Re-analysed; see the new scores", "csrf_token": token(sam)})
    assert next(x for x in omar.get("/api/disputes").json() if x["dispute_id"] == d["dispute_id"])["status"] \
        == "rejected"


def test_anonymous_gets_nothing(app):
    from fastapi.testclient import TestClient

    assert TestClient(app).get("/api/disputes").status_code == 401
    r = TestClient(app).post("/disputes/x/decide", data={"decision": "rejected"}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token: refused before anything else
