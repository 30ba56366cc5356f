"""The web app on a store a new user damaged or never prepared (found by trying `callqa serve` on
unseen calls): a `topics.json` that is not what the app wrote must not take the Trends page down."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from test_web_search import login
from test_web_store import build_web_store

pytest.importorskip("fastapi")

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    from callqa.web import create_app

    built = build_web_store(tmp_path_factory)
    store = tmp_path_factory.mktemp("unseen-web") / "store"
    shutil.copytree(built["store"], store)
    return store, create_app(store, built["config"])




def _damaged(good: dict) -> dict[str, str]:
    """topics.json variants: valid JSON of the wrong shape, with the kept model's version and
    fingerprint (so the file is read, not ignored as out of date), and a truncated file."""
    topic = good["topics"][0] if good.get("topics") else {"id": "en-1", "language": "en", "terms": ["card"],
                                                          "size": 1, "examples": []}
    return {
        "a list": json.dumps([1, 2]),
        "a string": json.dumps("topics"),
        "topics not a list": json.dumps({**good, "topics": "card, refund"}),
        "terms a string": json.dumps({**good, "topics": [{**topic, "terms": "card"}]}),
        "an example not an object": json.dumps({**good, "topics": [{**topic, "examples": ["en-1"]}]}),
        "size not a number": json.dumps({**good, "topics": [{**topic, "size": "many"}]}),
        "assignments a list": json.dumps({**good, "assignments": ["blue-bad-en"]}),
        "truncated": json.dumps(good)[:40],
    }


def test_trends_survive_a_damaged_topics_file_and_make_it_again(web):
    store, app = web
    ada = login(app, "ada")
    assert ada.get("/api/trends").status_code == 200  # makes STORE/topics.json
    path = store / "topics.json"
    good = json.loads(path.read_text(encoding="utf-8"))
    for what, text in _damaged(good).items():
        path.write_text(text, encoding="utf-8")
        r = ada.get("/trends", headers=HTML)
        assert r.status_code == 200, (what, r.text[:300])
        api = ada.get("/api/trends")
        assert api.status_code == 200, (what, api.text[:300])
        again = json.loads(path.read_text(encoding="utf-8"))  # made again, as the app writes it
        assert isinstance(again, dict) and isinstance(again.get("topics"), list), what


def test_trends_without_a_topics_file(web):
    store, app = web
    (store / "topics.json").unlink(missing_ok=True)
    ada = login(app, "ada")
    assert ada.get("/trends", headers=HTML).status_code == 200
    assert (store / "topics.json").is_file()


def test_a_category_alone_searches_in_the_web_app_within_the_users_teams(web):
    _, app = web
    ada, sam = login(app, "ada"), login(app, "sam")  # admin; supervisor of team blue
    rows = ada.get("/api/categories").json()
    rows = rows.get("categories", rows) if isinstance(rows, dict) else rows
    used = [r["id"] for r in rows if r["calls"]]
    assert used, rows
    for cid in used:
        every = ada.get("/api/search", params={"q": f"category:{cid}"})
        assert every.status_code == 200, every.text
        hits = every.json()["hits"]
        assert hits, cid
        blue = sam.get("/api/search", params={"q": f"category:{cid} team:red"}).json()["hits"]
        assert all(h["team"] == "blue" for h in blue) and not blue  # a filter never lifts the restriction
        page = ada.get("/search", params={"q": f"category:{cid}"}, headers=HTML)
        assert page.status_code == 200 and hits[0]["call_id"] in page.text
    assert sam.get("/api/search", params={"q": "team:blue"}).json()["hits"]
    assert not [h for h in sam.get("/api/search", params={"q": "team:red"}).json()["hits"]]


def test_an_admin_cannot_save_a_category_of_filters_alone(web):
    """Searching `team:blue` lists calls now, but as a category it would have no evidence: refused, in
    the page's language, nothing saved."""
    store, app = web
    ada = login(app, "ada")
    page = ada.get("/categories", headers=HTML).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = ada.post("/categories", data={"csrf_token": token, "category_id": "blue_calls", "name_en": "Blue",
                                      "name_ru": "Синие", "query": "team:blue", "severity": ""}, headers=HTML)
    assert r.status_code == 400
    assert "категории нужно слово" in r.text or "a category needs a word" in r.text
    assert "blue_calls" not in {c["id"] for c in ada.get("/api/categories").json()}
