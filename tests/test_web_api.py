"""The supervisor web app through FastAPI's TestClient: every page and action, and the
authorisation cases (anonymous, another team's call, path traversal on the audio
endpoint, forged forms without the CSRF token, login rate limiting)."""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import quote

import pytest
from markupsafe import escape
from test_web_store import PASSWORD, build_web_store

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_web_store(tmp_path_factory)


@pytest.fixture(scope="module")
def app(built):
    from callqa.web import create_app

    return create_app(built["store"], built["config"])


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "the page has no CSRF token"
    return m.group(1)


def login(app, name: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": name, "password": password, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture(scope="module")
def sam(app):  # supervisor of team blue
    return login(app, "sam")


@pytest.fixture(scope="module")
def tia(app):  # trainer
    return login(app, "tia")


@pytest.fixture(scope="module")
def ada(app):  # admin
    return login(app, "ada")


def token(client: TestClient, page: str = "/queue") -> str:
    return csrf_of(client.get(page, headers=HTML).text)


# ---------------------------------------------------------------- anonymous and sessions

@pytest.mark.parametrize("path", ["/", "/queue", "/calls/blue-bad-en", "/library", "/operators/op-b1", "/dashboard"])
def test_anonymous_pages_redirect_to_login(app, path):
    r = TestClient(app).get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=" + quote(path, safe="")


@pytest.mark.parametrize("path", ["/api/queue", "/api/calls/blue-bad-en", "/api/library", "/api/me",
                                  "/calls/blue-bad-en/audio", "/api/disputes"])
def test_anonymous_api_gets_401(app, path):
    r = TestClient(app).get(path)
    assert r.status_code == 401
    assert r.json() == {"detail": "login required"}
    assert b"RIFF" not in r.content


def test_login_sets_a_safe_session_cookie_and_returns_to_next(app):
    client = TestClient(app)
    page = client.get("/login?next=/calls/blue-bad-en")
    r = client.post("/login", data={"username": "sam", "password": PASSWORD, "csrf_token": csrf_of(page.text),
                                    "next": "/calls/blue-bad-en"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/calls/blue-bad-en"
    cookie = r.headers["set-cookie"].lower()
    assert "callqa_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/api/me").json()["teams"] == ["blue"]
    # the session is signed: a tampered cookie is no session at all
    value = client.cookies.get("callqa_session")
    forged = TestClient(app, cookies={"callqa_session": value[:-3] + ("AAA" if value[-3:] != "AAA" else "BBB")})
    assert forged.get("/api/me").status_code == 401
    # logging out ends it
    assert client.post("/logout", data={"csrf_token": token(client)}, follow_redirects=False).status_code == 303
    assert client.get("/api/me").status_code == 401


def test_login_refuses_other_sites_as_next(app):
    client = TestClient(app)
    r = client.post("/login", data={"username": "sam", "password": PASSWORD, "next": "//evil.example/x",
                                    "csrf_token": csrf_of(client.get("/login").text)}, follow_redirects=False)
    assert r.headers["location"] == "/queue"


def test_wrong_password_and_rate_limit(built):
    from callqa.web import create_app

    app = create_app(built["store"], built["config"], options={"login_attempts": 3, "login_window_s": 60})
    client = TestClient(app)
    tok = csrf_of(client.get("/login").text)
    for _ in range(3):
        r = client.post("/login", data={"username": "rex", "password": "wrong-password", "csrf_token": tok})
        assert r.status_code == 401
        assert "Неверное имя пользователя или пароль" in r.text
    # the 4th attempt within the minute is refused, even with the right password
    r = client.post("/login", data={"username": "rex", "password": PASSWORD, "csrf_token": tok})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert client.get("/api/me").status_code == 401
    # another user from the same address is not locked out by rex's failures
    r = client.post("/login", data={"username": "tia", "password": PASSWORD, "csrf_token": tok},
                    follow_redirects=False)
    assert r.status_code == 303


def test_password_change_ends_sessions(built, tmp_path):
    import shutil

    from callqa.users import UserDB
    from callqa.web import create_app

    store = tmp_path / "store"
    shutil.copytree(built["store"], store)
    app = create_app(store, built["config"])
    client = login(app, "rex")
    assert client.get("/api/me").status_code == 200
    UserDB(store).update("rex", password="brand-new-pass")
    assert client.get("/api/me").status_code == 401


# ---------------------------------------------------------------- CSRF on every form

def _post_routes(app) -> list[str]:
    return sorted({r.path for r in app.routes if "POST" in getattr(r, "methods", set())})


def test_every_post_route_rejects_a_forged_form(built, tmp_path):
    import shutil

    from callqa.pipeline.qa.calibration import create_session
    from callqa.pipeline.qa.disputes import raise_dispute
    from callqa.pipeline.store.qa_tables import TABLE_NAMES, connect
    from callqa.users import UserDB
    from callqa.web import create_app

    copy = tmp_path / "store"
    shutil.copytree(built["store"], copy)  # an open dispute is made below: not in the shared store
    app = create_app(copy, built["config"])
    paths = _post_routes(app)
    assert {"/login", "/logout", "/calls/{call_id}/override", "/calls/{call_id}/flags", "/calls/{call_id}/review",
            "/library/decide", "/library/export", "/calls/{call_id}/disputes", "/disputes/{dispute_id}/decide",
            "/calls/{call_id}/forms/{form_id}", "/calibration", "/calibration/{session_id}/answers",
            "/calibration/{session_id}/close", "/review-sample"} <= set(paths)
    # every placeholder is one the loop below fills in: a new kind of route must be added there
    assert all(re.fullmatch(r"[^{}]*(\{(call_id|dispute_id|form_id|session_id|category_id)\}[^{}]*)*", p)
               for p in paths), paths
    store = app.state.ctx.store
    # an operator of the call (the forged dispute below would be theirs) and an open dispute to decide
    UserDB(store.path).add("opal", "operator", PASSWORD, operator_id="op-b1")
    sam, opal = login(app, "sam"), login(app, "opal")
    comp = next(c["id"] for c in store.get("blue-bad-en")["competencies"] if c["score"] is not None)
    open_dispute = raise_dispute(store, "blue-bad-en", "flag", "forbidden_phrase", author="opal", comment="forged?")
    session = create_session(store, title="forged", form_id="inbound_checklist", call_ids=["blue-bad-en"],
                             evaluators=["sam", "ada"], created_by="sam", config=built["config"])
    form = {"competency": "active_listening", "level": "1", "comment": "forged", "flag": "forbidden_phrase",
            "decision": "dismissed", "status": "reviewed", "call_id": "blue-good-en", "item": "blue-good-en:x",
            "username": "sam", "password": PASSWORD, "target": f"score:{comp}", "score": "10",
            "question": "correct_information", "answer": "no", "form_id": "inbound_checklist", "title": "forged",
            "evaluator": ["sam", "ada"], "q.greeting": "no", "week": "2026-W45",
            "category_id": "forged", "name_en": "Forged", "query": "card", "severity": "high"}
    per_path = {"/disputes/{dispute_id}/decide": {"decision": "accepted"}}
    def written() -> tuple:
        with connect(store) as con:
            qa = tuple(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLE_NAMES)
            closed = con.execute("SELECT count(*) FROM calibration_sessions WHERE closed_at IS NOT NULL").fetchall()
        return len(store.reviews()), len(store.query("SELECT * FROM disputes")), qa, closed

    before = written()
    for client in (sam, opal):
        for path in paths:
            url = (path.replace("{call_id}", "blue-bad-en").replace("{dispute_id}", open_dispute["dispute_id"])
                   .replace("{form_id}", "inbound_checklist").replace("{session_id}", session["session_id"])
                   .replace("{category_id}", "churn_threat"))
            data = {**form, **per_path.get(path, {})}
            assert client.post(url, data=data).status_code == 403, url  # no token
            assert client.post(url, data={**data, "csrf_token": "not-the-token"}).status_code == 403, url
    # nothing was written
    assert written() == before
    assert sam.get("/api/me").status_code == 200  # and the forged logout did not end the session


# ---------------------------------------------------------------- review queue

def test_queue_sorted_by_severity_with_counts(sam):
    r = sam.get("/api/queue")
    data = r.json()
    ranks = [row["severity_rank"] for row in data["rows"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] >= 3
    assert {row["team"] for row in data["rows"]} == {"blue"}
    ids = [row["call_id"] for row in data["rows"]]
    assert "blue-bad-en" in ids and "red-bad-en" not in ids
    for fid, n in data["counts"].items():
        assert n == sum(1 for row in data["rows"] if fid in {f["id"] for f in row["flags"]})
    page = sam.get("/queue?lang=en", headers=HTML).text
    assert "Review queue" in page and "/calls/blue-bad-en" in page and "red-bad-en" not in page
    assert page.index("blue-bad-en") < page.index("Showing")
    assert "Forbidden phrase" in page and "not my problem" in page  # flag label and reason with the quote


def test_queue_filters(ada):
    everything = ada.get("/api/queue").json()
    assert {row["team"] for row in everything["rows"]} == {"blue", "red"}
    red = ada.get("/api/queue?team=red").json()
    assert {row["call_id"] for row in red["rows"]} == {"red-bad-en"}
    assert {row["operator_id"] for row in ada.get("/api/queue?operator=op-b1").json()["rows"]} == {"op-b1"}
    dated = ada.get("/api/queue?date_from=2026-11-04&date_to=2026-11-09").json()
    assert {row["call_id"] for row in dated["rows"]} == {"red-bad-en"}
    fid = next(iter(everything["counts"]))
    flagged = ada.get(f"/api/queue?flag={fid}").json()
    assert len(flagged["rows"]) == everything["counts"][fid]
    assert all(fid in {f["id"] for f in row["flags"]} for row in flagged["rows"])
    assert "2026-13-45" in ada.get("/queue?lang=en&date_from=2026-13-45", headers=HTML).text  # told it was ignored


# ---------------------------------------------------------------- call page and audio

def test_call_page_shows_audio_transcript_evidence_and_flags(sam, built):
    from callqa.pipeline.store.db import Store

    result = Store(built["store"]).get("blue-bad-en")
    page = sam.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    assert '<audio id="player"' in page and 'src="/calls/blue-bad-en/audio"' in page
    for turn in result["transcript"]["turns"]:
        assert f'data-seek="{turn["start"]:.2f}"' in page
    assert page.count('class="seg operator"') == sum(t["speaker"] == "operator" for t in result["transcript"]["turns"])
    for flag in result["flags"]:
        assert str(escape(flag["reason"])) in page
        for ev in flag["evidence"]:
            assert f'data-seek="{ev["start"]:.2f}"' in page
    scored = [i for i in result["indicators"] if i["score"] is not None and i["evidence"]]
    assert scored and all(f'data-seek="{i["evidence"][0]["start"]:.2f}"' in page for i in scored)
    assert "Talk time" in page and "Active listening" in page


def test_call_without_recording_says_so(sam):
    page = sam.get("/calls/blue-bad-ru?lang=en", headers=HTML).text
    assert 'id="no-audio"' in page and "<audio" not in page
    assert sam.get("/calls/blue-bad-ru/audio").status_code == 404  # its source is a transcript file, not audio


def test_another_teams_call_is_404_everywhere(sam):
    tok = token(sam)
    assert sam.get("/calls/red-bad-en", headers=HTML).status_code == 404
    assert sam.get("/api/calls/red-bad-en").status_code == 404
    assert sam.get("/calls/red-bad-en/audio").status_code == 404
    assert sam.post("/calls/red-bad-en/override", data={"csrf_token": tok, "competency": "active_listening",
                                                        "level": "1", "comment": "x"}).status_code == 404
    assert sam.post("/calls/red-bad-en/flags", data={"csrf_token": tok, "flag": "forbidden_phrase",
                                                     "decision": "dismissed"}).status_code == 404
    assert sam.post("/library/decide", data={"csrf_token": tok, "call_id": "red-good-en",
                                             "competency": "script_compliance", "decision": "approved"}).status_code == 404
    assert sam.get("/operators/op-r1", headers=HTML).status_code == 404
    assert sam.get("/dashboard?team=red", headers=HTML).status_code == 404
    assert sam.get("/calls/no-such-call", headers=HTML).status_code == 404


def test_audio_supports_ranges(sam, built):
    raw = built["audio"]["blue-bad-en"].read_bytes()
    full = sam.get("/calls/blue-bad-en/audio")
    assert full.status_code == 200 and full.content == raw
    assert full.headers["content-type"] == "audio/wav" and full.headers["accept-ranges"] == "bytes"
    part = sam.get("/calls/blue-bad-en/audio", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == raw[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(raw)}"
    tail = sam.get("/calls/blue-bad-en/audio", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == raw[-100:]
    assert sam.get("/calls/blue-bad-en/audio", headers={"Range": f"bytes={len(raw) + 10}-"}).status_code == 416


@pytest.mark.parametrize("path", [
    "/calls/..%2F..%2F..%2Fetc%2Fpasswd/audio",
    "/calls/%2Fetc%2Fpasswd/audio",
    "/calls/../../etc/passwd/audio",
    "/calls/blue-bad-en%2F..%2F..%2Fetc%2Fpasswd/audio",
    "/calls/..%252F..%252Fetc%252Fpasswd/audio",
])
def test_audio_path_traversal_is_refused(sam, path):
    r = sam.get(path)
    assert r.status_code == 404
    assert b"root:" not in r.content


def test_audio_ignores_paths_given_by_the_client(sam, built):
    r = sam.get("/calls/blue-bad-en/audio?path=/etc/passwd&file=../../etc/passwd")
    assert r.status_code == 200 and r.content == built["audio"]["blue-bad-en"].read_bytes()


def test_api_call_hides_the_server_path(sam):
    data = sam.get("/api/calls/blue-bad-en").json()
    assert data["call_id"] == "blue-bad-en" and "path" not in data["source"]


# ---------------------------------------------------------------- overrides (human QA)

def test_override_is_stored_as_human_qa_without_erasing_the_automatic_score(app, ada, built):
    from callqa.pipeline.people.library import human_qa_rows

    store = app.state.ctx.store
    auto = {c["id"]: c for c in store.get("blue-good-en-2")["competencies"]}
    target = next(cid for cid, c in auto.items() if c["score"] is not None)
    new_level = 1  # a score of 41.5 is level 1 on the competency map: the level follows the score
    assert built["config"].section("competency_map").level_for(41.5) == new_level
    r = ada.post("/calls/blue-good-en-2/override",
                 data={"csrf_token": token(ada), "competency": target, "score": "41.5",
                       "comment": "Client was interrupted at 0:20"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("#overrides")
    page = ada.get("/calls/blue-good-en-2?lang=en", headers=HTML).text
    assert "Override saved." in page
    listed = page[page.index('id="override-list"'):]
    assert "Client was interrupted at 0:20" in listed and "41.5" in listed and "ada" in listed
    # the automatic score is kept; overrides apply on top for grades; validate reads them as human QA
    assert {c["id"]: c["score"] for c in store.get("blue-good-en-2")["competencies"]}[target] == auto[target]["score"]
    applied = next(r for r in store.results() if r["call_id"] == "blue-good-en-2")
    comp = next(c for c in applied["competencies"] if c["id"] == target)
    assert comp["level"] == new_level and comp["override"]["original"]["score"] == auto[target]["score"]
    # scorecards and the dashboard read the same corrected scores, for the calls the user may see
    from callqa.pipeline.people.grades import competency_frame
    from callqa.users import User
    from callqa.web.views import visible_results

    light = visible_results(store, User("x", "admin"))
    assert competency_frame(light).sort("call_id", "competency").equals(
        competency_frame(store.results()).sort("call_id", "competency"))
    assert {r["team"] for r in visible_results(store, User("y", "supervisor", ("red",)))} == {"red"}
    assert {"call_id": "blue-good-en-2", "competency": target, "level": new_level, "score": 41.5} in [
        {k: r[k] for k in ("call_id", "competency", "level", "score")} for r in human_qa_rows(store)]


@pytest.mark.parametrize("form, message", [
    ({"level": "2", "comment": ""}, "Please explain the correction"),
    ({"score": "150", "comment": "too high"}, "number from 0 to 100"),
    ({"level": "7", "comment": "bad level"}, "must be 1, 2, 3 or 4"),
    ({"comment": "nothing to change"}, "Give a level or a score"),
])
def test_invalid_overrides_are_refused_with_a_reason(app, sam, form, message):
    before = len(app.state.ctx.store.reviews("blue-bad-en"))
    r = sam.post("/calls/blue-bad-en/override", data={"csrf_token": token(sam), "competency": "clear_speech", **form},
                 follow_redirects=False)
    assert r.status_code == 303
    assert message in sam.get("/calls/blue-bad-en?lang=en", headers=HTML).text
    assert len(app.state.ctx.store.reviews("blue-bad-en")) == before


def test_trainer_cannot_override(tia):
    r = tia.post("/calls/blue-bad-en/override", data={"csrf_token": token(tia, "/library"), "competency": "clear_speech",
                                                      "level": "1", "comment": "no"})
    assert r.status_code == 403


def test_flag_dismissal_leaves_the_queue_and_review_is_listed(app, built):
    import shutil

    from callqa.web import create_app

    store = built["root"] / "store-flags"
    if not store.exists():
        shutil.copytree(built["store"], store)
    own = create_app(store, built["config"])
    client = login(own, "sam")
    tok = token(client)
    flags = {f["id"] for f in client.get("/api/calls/blue-bad-en").json()["flags"]}
    for fid in flags:
        r = client.post("/calls/blue-bad-en/flags", data={"csrf_token": tok, "flag": fid, "decision": "dismissed"},
                        follow_redirects=False)
        assert r.status_code == 303
    assert "blue-bad-en" not in {row["call_id"] for row in client.get("/api/queue").json()["rows"]}
    r = client.post("/calls/blue-bad-ru/review", data={"csrf_token": tok, "status": "needs_coaching",
                                                       "comment": "Talk about empathy"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/calls/blue-bad-ru?lang=en", headers=HTML).text
    assert "Needs coaching" in page and "Talk about empathy" in page
    row = next(row for row in client.get("/api/queue").json()["rows"] if row["call_id"] == "blue-bad-ru")
    assert row["review"] == "needs_coaching"
    assert client.post("/calls/blue-bad-ru/flags", data={"csrf_token": tok, "flag": "no_such_flag",
                                                         "decision": "dismissed"}).status_code == 400


# ---------------------------------------------------------------- exemplary-call library

def test_library_approve_tag_search_and_export(app, tia, built):
    pending = tia.get("/api/library?status=pending").json()
    item = next(i for i in pending if i["call_id"] == "red-good-en")
    r = tia.post("/library/decide", data={"csrf_token": token(tia, "/library"), "call_id": item["call_id"],
                                          "competency": item["competency"], "decision": "approved",
                                          "tags": "Refund, calm", "next": "/library?status=pending"},
                 follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/library?status=pending"
    approved = tia.get("/api/library?status=approved").json()
    assert {(i["call_id"], i["competency"]) for i in approved} >= {(item["call_id"], item["competency"])}
    page = tia.get("/library?lang=en&status=approved", headers=HTML).text
    assert f'data-key="{item["key"]}"' in page and "refund" in page  # one row per call
    assert item["competency"] in [c["id"] for c in item["competencies"]]
    assert [i["call_id"] for i in tia.get("/api/library?status=approved&tag=refund").json()] == ["red-good-en"]
    assert tia.get(f"/api/library?status=approved&competency={item['competency']}&scenario=card_block").json() == []
    assert len(tia.get(f"/api/library?status=approved&scenario={item['scenario']}").json()) >= 1
    # export the selection: audio, transcript and annotations in a zip
    r = tia.post("/library/export", data={"csrf_token": token(tia, "/library"), "item": [item["key"]]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = set(zf.namelist())
        assert {"index.csv", "red-good-en/audio.wav", "red-good-en/transcript.txt", "red-good-en/annotations.json",
                "red-good-en/result.json"} <= names
        assert zf.read("red-good-en/audio.wav") == built["audio"]["red-good-en"].read_bytes()
    # rejecting moves it out of the library
    tia.post("/library/decide", data={"csrf_token": token(tia, "/library"), "call_id": item["call_id"],
                                      "competency": item["competency"], "decision": "rejected"})
    assert item["competency"] not in {i["competency"] for i in tia.get("/api/library?status=approved").json()
                                      if i["call_id"] == "red-good-en"}


def test_supervisor_library_is_limited_to_their_teams(sam):
    items = sam.get("/api/library?status=pending").json() + sam.get("/api/library?status=approved").json()
    assert items and {i["team"] for i in items} == {"blue"}
    r = sam.post("/library/export", data={"csrf_token": token(sam), "item": ["red-good-en:script_compliance"]})
    assert r.status_code == 404
    r = sam.post("/library/export", data={"csrf_token": token(sam)}, follow_redirects=False)
    assert r.status_code == 303  # nothing selected: back with a message


# ---------------------------------------------------------------- scorecards and dashboard

def test_operator_scorecard(sam):
    page = sam.get("/operators/op-b1?lang=en", headers=HTML).text
    assert "Operator op-b1" in page and "<svg" in page and "Current levels" in page
    assert "Development plan" in page and "Flagged calls" in page
    assert "/calls/blue-bad-en" in page  # link to the operator's flagged call
    assert sam.get("/operators/op-b1?period=2026-11", headers=HTML).status_code == 200
    assert sam.get("/operators/op-b1?period=nonsense", headers=HTML).status_code == 400


def test_team_dashboard(sam, ada):
    page = sam.get("/dashboard?lang=en", headers=HTML).text
    assert "Team dashboard" in page and 'data-operator="op-b1"' in page and 'data-operator="op-r1"' not in page
    assert 'data-operator="op-r1"' in ada.get("/dashboard?team=red&lang=en", headers=HTML).text


# ---------------------------------------------------------------- languages

def test_language_switch_and_catalogues():
    from callqa.web.i18n import catalog

    assert set(catalog("ru")) == set(catalog("en"))
    assert all(catalog("ru")[k] for k in catalog("ru"))


def test_ui_language_follows_choice(app):
    client = login(app, "sam")
    assert "Очередь проверки" in client.get("/queue", headers=HTML).text  # Russian by default
    r = client.get("/queue?lang=en", headers=HTML)
    assert "Review queue" in r.text and 'lang="en"' in r.text
    assert "Review queue" in client.get("/queue", headers=HTML).text  # remembered in a cookie
    assert "Очередь проверки" in client.get("/queue?lang=ru", headers=HTML).text


def test_security_headers(sam):
    r = sam.get("/queue", headers=HTML)
    assert r.headers["x-frame-options"] == "DENY" and "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_serve_command_needs_a_store_and_users(tmp_path, capsys):
    from callqa.cli import main

    assert main(["serve", "--store", str(tmp_path / "none")]) == 2
    assert "no callqa store" in capsys.readouterr().err


def test_call_page_says_why_a_call_is_difficult(sam):
    """The angry client asks for a manager and threatens a complaint: the page names the reason and
    links its moment; the routine good call shows no difficulty at all (issue 10)."""
    bad = sam.get("/calls/blue-bad-en?lang=en").text
    assert 'id="difficult-reasons"' in bad
    assert "the client escalated" in bad
    # negative emotion has no count (sentiment values only): named without an empty "()" after it
    reasons = bad.split('id="difficult-reasons"', 1)[1].split("</ul>", 1)[0]
    assert "the client escalated (manager, complaint) (2)" in reasons
    assert "negative emotion" in reasons and "()" not in reasons
    ru = sam.get("/calls/blue-bad-en?lang=ru").text
    assert "клиент эскалировал" in ru
    good = sam.get("/calls/blue-good-en?lang=en").text
    assert 'id="difficult-reasons"' not in good and "badge difficult" not in good
