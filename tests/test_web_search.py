"""Search, trends and categories in the web app (issue 13): hits with moments and highlighted
quotes linking to the call at that moment, syntax errors with their position, permissions (a
supervisor never sees another team's hits; an operator only their own calls), categories
saved by an admin, category labels on flags, the trends page."""

from __future__ import annotations

import re
import shutil
from urllib.parse import parse_qs, urlparse

import pytest
from test_web_store import PASSWORD, build_web_store

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from callqa.users import UserDB
    from callqa.web import create_app

    built = build_web_store(tmp_path_factory)
    store = tmp_path_factory.mktemp("websearch") / "store"
    shutil.copytree(built["store"], store)  # our own copy: categories are saved into it
    UserDB(store).add("olly", "operator", PASSWORD, operator_id="op-b2")
    return create_app(store, built["config"])


def login(app, name: str) -> TestClient:
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path, headers=HTML).text).group(1)


@pytest.fixture(scope="module")
def sam(app):  # supervisor of team blue
    return login(app, "sam")


@pytest.fixture(scope="module")
def rex(app):  # supervisor of team red
    return login(app, "rex")


@pytest.fixture(scope="module")
def ada(app):  # admin
    return login(app, "ada")


def test_supervisor_of_team_blue_gets_no_team_red_hits(sam, rex, ada):
    # BAD_EN ("I will file a complaint about you") is a call of both teams
    every = ada.get("/api/search", params={"q": "complaint"}).json()
    assert {h["call_id"] for h in every["hits"]} == {"blue-bad-en", "red-bad-en"}
    blue = sam.get("/api/search", params={"q": "complaint"}).json()
    assert [h["call_id"] for h in blue["hits"]] == ["blue-bad-en"]
    assert all(h["team"] == "blue" for h in blue["hits"])
    red = rex.get("/api/search", params={"q": "complaint"}).json()
    assert [h["call_id"] for h in red["hits"]] == ["red-bad-en"]
    # a filter naming the other team does not lift the restriction
    assert sam.get("/api/search", params={"q": "complaint team:red"}).json()["hits"] == []
    page = sam.get("/search", params={"q": "complaint"}, headers=HTML).text
    assert "blue-bad-en" in page and "red-bad-en" not in page


def test_an_operator_finds_only_their_own_calls(app):
    olly = login(app, "olly")  # op-b2: blue-good-en only
    hits = olly.get("/api/search", params={"q": "card"}).json()["hits"]
    assert hits and {h["call_id"] for h in hits} == {"blue-good-en"}
    # trends and categories count other people's calls: not for operators
    for path in ("/api/trends", "/api/categories", "/trends", "/categories"):
        assert olly.get(path).status_code == 403, path


def test_a_hit_is_a_moment_with_a_highlighted_quote_linking_to_the_call_at_that_moment(ada):
    r = ada.get("/api/search", params={"q": "client:complaint", "sort": "relevance"})
    hit = next(h for h in r.json()["hits"] if h["call_id"] == "blue-bad-en")
    assert (hit["start"], hit["end"], hit["speaker"]) == (13.5, 17.0, "client")
    a, b = hit["highlights"][0]
    assert hit["quote"][a:b] == "complaint"
    assert urlparse(hit["url"]).path.startswith("/calls/") and parse_qs(urlparse(hit["url"]).query)["t"] == ["13.50"]
    page = ada.get("/search", params={"q": "client:complaint"}, headers=HTML).text
    assert "<mark>complaint</mark>" in page
    link = re.search(r'<a class="ts hit-link" href="([^"]+)"', page).group(1)
    assert link.endswith("?t=13.50")
    call = ada.get(link.replace("&amp;", "&"), headers=HTML)
    assert call.status_code == 200 and 'id="player"' in call.text
    # the call page lists the call's categories with their moments
    section = call.text.split('id="categories"')[1].split("</section>")[0]
    assert 'data-category="complaint_threat"' in section and "Угроза жалобы" in section  # the UI's language
    assert 'data-seek="13.50"' in section


def test_word_forms_and_scopes_through_the_page(ada):
    # "complained" is not said; "complaint" is found by its word; the operator never says it
    assert ada.get("/api/search", params={"q": "operator:complaint"}).json()["hits"] == []
    ru = ada.get("/api/search", params={"q": "руководитель"}).json()["hits"]  # "позовите руководителя"
    assert [h["call_id"] for h in ru] == ["blue-bad-ru"]


def test_a_syntax_error_is_shown_with_its_position(ada):
    r = ada.get("/api/search", params={"q": "manager AND (complaint"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["position"] == 12 and "(" in err["message"]
    page = ada.get("/search", params={"q": "manager AND (complaint", "lang": "en"}, headers=HTML)
    assert page.status_code == 200  # the page explains the error; the API answers 400
    assert "column 13" in page.text and '<mark class="err">(</mark>' in page.text
    r = ada.get("/api/search", params={"q": "manager NEAR/0 complaint"})
    assert r.status_code == 400 and r.json()["error"]["position"] == 8
    deep = "(" * 3000 + "manager" + ")" * 3000  # a pasted or generated query: an error, never a 500
    r = ada.get("/api/search", params={"q": deep})
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_deep"
    assert ada.get("/search", params={"q": deep, "lang": "en"}, headers=HTML).status_code == 200


def test_a_syntax_error_in_the_pages_language(app):
    import html

    ru = login(app, "ada")  # a client of its own: the ?lang= cookie stays with it
    page = ru.get("/search", params={"q": "manager AND (complaint", "lang": "ru"}, headers=HTML)
    text = html.unescape(page.text)
    assert "Ошибка в запросе, позиция 13: не закрыта '(': добавьте ')'" in text
    assert "unclosed" not in text and '<mark class="err">(</mark>' in page.text
    token = csrf(ru, "/categories")
    bad = ru.post("/categories", data={"csrf_token": token, "category_id": "rude", "name_ru": "Грубость",
                                       "query": "operator:(whatever OR", "severity": "high"})
    assert bad.status_code == 400
    assert "Ошибка в запросе, позиция 22: после OR нужно слово, фраза или (группа), а запрос закончился" in \
        html.unescape(bad.text)
    # the API: the code and its parameters beside the message
    err = ru.get("/api/search", params={"q": "manager NEAR/0 complaint"}).json()["error"]
    assert err["code"] == "near_range" and err["params"] == {"max": "100"} and err["column"] == 9
    assert err["text"] == "у NEAR/n расстояние от 1 до 100 слов"
    en = ru.get("/search", params={"q": "manager AND (complaint", "lang": "en"}, headers=HTML)
    assert "Error in the query at column 13: unclosed '(': add ')'" in html.unescape(en.text)


def test_an_admin_saves_a_category_and_only_an_admin(ada, sam):
    page = ada.get("/categories", headers=HTML).text
    assert "churn_threat" in page and "manager_request" in page  # the configured ones
    token = csrf(ada, "/categories")
    bad = ada.post("/categories", data={"csrf_token": token, "category_id": "rude", "name_en": "Rude",
                                        "query": "operator:(whatever OR", "severity": "high"})
    assert bad.status_code == 400 and "column" in bad.text and 'class="err"' in bad.text
    r = ada.post("/categories", data={"csrf_token": token, "category_id": "rude", "name_en": "Rude operator",
                                      "name_ru": "Грубый оператор", "query": "operator:(whatever OR \"not my problem\")",
                                      "severity": "high"}, follow_redirects=False)
    assert r.status_code == 303
    rows = {c["id"]: c for c in ada.get("/api/categories").json()}
    assert rows["rude"]["source"] == "store" and rows["rude"]["severity"] == "high"
    assert rows["manager_request"]["calls"] == 3  # BAD_EN x2 (blue, red) and BAD_RU; no good call
    token = csrf(sam, "/categories")
    assert sam.post("/categories", data={"csrf_token": token, "category_id": "x", "name_en": "X",
                                         "query": "card"}).status_code == 403
    assert {c["id"]: c["calls"] for c in sam.get("/api/categories").json()}["manager_request"] == 2  # blue only


def test_the_queue_filters_by_category_and_names_category_flags(app, ada):
    store = app.state.ctx.store
    from callqa.pipeline.scoring.categories import categories_by_call

    in_cat = {c for c, ids in categories_by_call(store).items() if "complaint_threat" in ids}
    assert in_cat == {"blue-bad-en", "red-bad-en"}
    rows = ada.get("/api/queue", params={"category": "complaint_threat"}).json()["rows"]
    assert {r["call_id"] for r in rows} == in_cat
    page = ada.get("/queue", params={"category": "complaint_threat", "lang": "en"}, headers=HTML).text
    assert "blue-bad-ru" not in page and "blue-bad-en" in page
    chips = page.split('class="category-counts"')[1].split("</section>")[0]
    assert 'data-category="complaint_threat"' in chips and "Complaint threat <b>2</b>" in chips


def test_trends_count_categories_per_week_and_team(sam, ada):
    data = ada.get("/api/trends", params={"periods": 3}).json()
    assert data["periods"] == ["2026-W44", "2026-W45", "2026-W46"]
    man = next(r for r in data["categories"] if r["id"] == "manager_request")
    # blue-bad-ru (Mon 2 Nov), blue-bad-en, red-bad-en: week 45; nothing in week 46 (12 Nov: a good call)
    assert man["counts"] == [0, 3, 0] and man["current"] == 0 and man["previous"] == 3
    assert man["change"] == -3 and man["change_pct"] == -100.0
    assert man["by_team"] == {"blue": [0, 2], "red": [0, 1]}
    assert data["calls"] == [0, 5, 1]
    blue = sam.get("/api/trends", params={"periods": 3, "period": "week"}).json()
    assert blue["teams"] == ["blue"]
    man_b = next(r for r in blue["categories"] if r["id"] == "manager_request")
    assert man_b["counts"] == [0, 2, 0] and man_b["by_team"] == {"blue": [0, 2]}
    assert all(e["call_id"].startswith("blue") or e["call_id"].startswith("+") for r in blue["topics"]
               for e in r["examples"])
    page = sam.get("/trends", params={"lang": "ru"}, headers=HTML)
    assert page.status_code == 200 and "Причины обращений" in page.text
