"""The QA loop in the web app (issue 14, items 2-4): evaluation forms on the call page (automatic
answers with evidence, questions for a person, a person's answer re-scores the form), form
results on the scorecard, blind calibration sessions, the weekly review sample; with the
permissions: other teams and other operators get 404, trainers and operators cannot answer
forms, only the lead, the invited evaluators and admins see a session, answers stay hidden
until the session is closed."""

from __future__ import annotations

import re
import shutil

import pytest
from test_web_api import HTML, login, token
from test_web_store import PASSWORD, build_web_store

pytest.importorskip("fastapi")

FORM = "inbound_checklist"
EN = {**HTML, "accept-language": "en"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_web_store(tmp_path_factory)


@pytest.fixture(scope="module")
def app(built, tmp_path_factory):
    from callqa.users import UserDB
    from callqa.web import create_app

    store = tmp_path_factory.mktemp("qa") / "store"
    shutil.copytree(built["store"], store)  # answers, sessions and samples change the store: our own copy
    users = UserDB(store)
    users.add("olga", "operator", PASSWORD, operator_id="op-b1")
    users.add("omar", "operator", PASSWORD, operator_id="op-b2")
    users.add("sue", "supervisor", PASSWORD, ["blue"])
    return create_app(store, built["config"])


@pytest.fixture(scope="module")
def clients(app):
    return {name: login(app, name) for name in ("sam", "rex", "tia", "ada", "olga", "omar", "sue")}


def _forms(client, call_id: str) -> dict:
    r = client.get(f"/api/calls/{call_id}/forms")
    assert r.status_code == 200, r.text
    return {f["id"]: f for f in r.json()}


def _answer(client, call_id: str, question: str, answer: str, **extra):
    return client.post(f"/calls/{call_id}/forms/{FORM}",
                       data={"csrf_token": token(client), "question": question, "answer": answer, **extra},
                       follow_redirects=False)


def _question_row(html: str, form: str, qid: str) -> str:
    section = html[html.index(f'id="form-{form}"'):]
    section = section[:section.index("</section>")]
    start = section.index(f'data-question="{qid}"')
    return section[start:section.index("</tr>", start)]


# ---------------------------------------------------------------- forms on the call page

def test_call_page_shows_the_forms_with_evidence_and_questions_for_a_person(clients):
    html = clients["sam"].get("/calls/blue-good-en", headers=EN).text
    assert f'id="form-{FORM}"' in html and 'id="form-competencies"' in html
    greeting = _question_row(html, FORM, "greeting")  # answered from the script stage, with where it was said
    assert "data-seek=" in greeting
    assert re.search(r'class="answer">\s*yes', greeting)
    person = _question_row(html, FORM, "correct_information")
    assert "needs-human" in person and "for a person" in person
    assert 'name="question" value="correct_information"' in person  # the supervisor may answer it
    # the trainer sees the form read-only; the operator sees it on their own call
    tia = clients["tia"].get("/calls/blue-good-en", headers=EN).text
    assert f'id="form-{FORM}"' in tia and 'class="form-answer' not in tia
    olga = clients["olga"].get("/calls/blue-bad-en", headers=EN).text
    assert f'id="form-{FORM}"' in olga and 'class="form-answer' not in olga


def test_a_persons_answer_rescores_the_form(app, clients):
    sam = clients["sam"]
    before = _forms(sam, "blue-good-en")[FORM]
    assert before["pending"] == ["correct_information"] and before["score"] == 100.0
    call = app.state.ctx.store.get("blue-good-en", with_reviews=False)
    r = _answer(sam, "blue-good-en", "correct_information", "no", comment="wrong fee quoted",
                analysis_id=call["analysis_id"])
    assert r.status_code == 303 and r.headers["location"].endswith(f"#form-{FORM}")
    after = _forms(sam, "blue-good-en")[FORM]
    got = next(a for a in after["answers"] if a["id"] == "correct_information")
    assert got["answer"] == "no" and got["source"] == "human" and got["by"] == "sam"
    assert got["comment"] == "wrong fee quoted"
    assert after["pending"] == [] and after["complete"] and after["score"] < before["score"]
    page = sam.get("/calls/blue-good-en", headers=EN).text
    assert "Answer saved; the form was scored again." in page
    assert f'data-score="{after["score"]:.2f}"' in page
    # overriding an automatic answer keeps what the automatic one was
    assert _answer(sam, "blue-good-en", "greeting", "no").status_code == 303
    greeting = next(a for a in _forms(sam, "blue-good-en")[FORM]["answers"] if a["id"] == "greeting")
    assert greeting["answer"] == "no" and greeting["auto"] == "yes" and greeting["source"] == "human"
    # the admin may answer on any team's call
    assert _answer(clients["ada"], "red-good-en", "correct_information", "yes").status_code == 303
    assert _forms(clients["ada"], "red-good-en")[FORM]["pending"] == []


def test_form_answers_are_checked_and_refused_on_a_reprocessed_call(app, clients):
    from callqa.pipeline.store.qa_tables import connect

    sam = clients["sam"]
    store = app.state.ctx.store

    def count() -> int:
        with connect(store) as con:
            return con.execute("SELECT count(*) FROM form_answers").fetchall()[0][0]

    n = count()
    r = _answer(sam, "blue-bad-en", "correct_information", "maybe")
    assert r.status_code == 303
    assert "takes yes, no" in sam.get(r.headers["location"], headers=EN).text
    r = _answer(sam, "blue-bad-en", "correct_information", "na")  # this question may not be N/A
    assert "cannot be answered N/A" in sam.get(r.headers["location"], headers=EN).text
    r = _answer(sam, "blue-bad-en", "no_such_question", "yes")
    assert "has no question" in sam.get(r.headers["location"], headers=EN).text
    r = _answer(sam, "blue-bad-en", "correct_information", "yes", analysis_id="an-earlier-analysis")
    assert "processed again" in sam.get(r.headers["location"], headers=EN).text
    assert count() == n  # nothing was stored
    assert sam.post("/calls/blue-bad-en/forms/no_such_form", data={"csrf_token": token(sam), "question": "x",
                                                                   "answer": "yes"}).status_code == 404


@pytest.mark.parametrize("name,call_id,status", [
    ("rex", "blue-bad-en", 404),   # another team's supervisor
    ("olga", "blue-good-en", 404),  # another operator's call
    ("olga", "blue-bad-en", 403),   # an operator's own call: read-only
    ("tia", "blue-bad-en", 403),    # trainers do not evaluate calls
])
def test_who_may_answer_a_form(app, clients, name, call_id, status):
    from callqa.pipeline.store.qa_tables import connect

    client = clients[name]
    r = client.post(f"/calls/{call_id}/forms/{FORM}",
                    data={"csrf_token": token(client), "question": "correct_information", "answer": "yes"},
                    follow_redirects=False)
    assert r.status_code == status
    with connect(app.state.ctx.store) as con:
        assert not con.execute("SELECT * FROM form_answers WHERE author = ?", [name]).fetchall()


def test_an_operator_never_sees_another_operators_form(clients):
    assert clients["olga"].get("/api/calls/blue-good-en/forms").status_code == 404
    assert clients["rex"].get("/api/calls/blue-bad-en/forms").status_code == 404
    assert FORM in _forms(clients["olga"], "blue-bad-en")
    assert clients["olga"].get("/operators/op-b2", headers=EN).status_code == 404


def test_scorecard_shows_form_results_over_time(clients):
    _answer(clients["sam"], "blue-bad-en", "correct_information", "yes")
    html = clients["sam"].get("/operators/op-b1?period=2026-Q4", headers=EN).text
    section = html[html.index('id="forms"'):]
    article = section[section.index(f'data-form="{FORM}"'):]
    article = article[:article.index("</article>")]
    rows = re.findall(r'<tr data-call="([^"]+)">', article)
    assert rows == ["blue-bad-ru", "blue-bad-en", "blue-good-en-2"]  # oldest first
    assert "<svg" in article  # weekly means
    bad_en = article[article.index('data-call="blue-bad-en"'):]
    assert re.search(r"<td>1</td></tr>", bad_en[:bad_en.index("</tr>") + 5])  # one answer by a person


# ---------------------------------------------------------------- calibration sessions

def _create(client, calls, evaluators, title="Nov calibration"):
    return client.post("/calibration", data={"csrf_token": token(client, "/calibration"), "title": title,
                                             "form_id": FORM, "call": calls, "evaluator": evaluators},
                       follow_redirects=False)


def _submit(client, sid, call_id, answers):
    return client.post(f"/calibration/{sid}/answers",
                       data={"csrf_token": token(client, f"/calibration/{sid}"), "call_id": call_id,
                             **{f"q.{k}": v for k, v in answers.items()}}, follow_redirects=False)


def test_calibration_session_is_blind_until_closed(app, clients):
    from callqa.pipeline.qa.calibration import count_table, fleiss_kappa

    sam, sue, tia = clients["sam"], clients["sue"], clients["tia"]
    calls = ["blue-bad-en", "blue-good-en", "blue-bad-ru"]
    # an evaluator who may not see the calls (another team, an operator) is refused
    r = _create(sam, calls, ["sam", "rex"])
    assert r.status_code == 303 and r.headers["location"] == "/calibration"
    flash = sam.get("/calibration", headers=EN).text.split('class="flash')[1].split("</div>")[0]
    assert "cannot be evaluators" in flash and "rex" in flash
    assert _create(sam, calls, ["sam", "olga"]).headers["location"] == "/calibration"
    assert _create(sam, ["red-bad-en"], ["sam", "ada"]).status_code == 404  # not the lead's team
    assert _create(tia, calls, ["sam", "ada"]).status_code == 403  # a trainer does not lead
    r = _create(sam, calls, ["sam", "sue", "tia"])
    assert r.status_code == 303 and r.headers["location"].startswith("/calibration/cal-")
    sid = r.headers["location"].rsplit("/", 1)[1]

    # who sees the session: the lead, the evaluators, admins; nobody else
    for name in ("sam", "sue", "tia", "ada"):
        assert clients[name].get(f"/calibration/{sid}", headers=EN).status_code == 200, name
        assert clients[name].get(f"/api/calibration/{sid}").status_code == 200, name
    for name in ("rex", "olga"):
        assert clients[name].get(f"/calibration/{sid}", headers=EN).status_code == 404, name
        assert clients[name].get(f"/api/calibration/{sid}").status_code == 404, name
        assert sid not in clients[name].get("/calibration", headers=EN).text
    assert sid in clients["ada"].get("/calibration", headers=EN).text

    yes_no = ["greeting", "need_discovery", "no_forbidden_phrases", "correct_information"]
    given = {
        "sam": {"greeting": "yes", "need_discovery": "no", "no_forbidden_phrases": "no", "correct_information": "no"},
        "sue": {"greeting": "yes", "need_discovery": "no", "no_forbidden_phrases": "no", "correct_information": "yes"},
        "tia": {"greeting": "yes", "need_discovery": "yes", "no_forbidden_phrases": "no", "correct_information": "no"},
    }
    for name, answers in given.items():
        for cid in calls:
            r = _submit(clients[name], sid, cid, answers if cid != "blue-good-en" else
                        {**answers, "no_forbidden_phrases": "yes", "need_discovery": "yes"})
            assert r.status_code == 303
    # blind: each evaluator sees only their own answers; the others' values are not on the page
    for name in given:
        data = clients[name].get(f"/api/calibration/{sid}").json()
        assert {a["evaluator"] for a in data["answers"]} == {name} and data["report"] is None
    ada_view = clients["ada"].get(f"/api/calibration/{sid}").json()  # the admin is not an evaluator
    assert ada_view["answers"] == [] and ada_view["session"]["progress"] == {n: 12 for n in given}
    page = sue.get(f"/calibration/{sid}", headers=EN).text
    assert 'class="all-answers"' not in page and 'id="report"' not in page
    assert f'href="/calls/blue-good-en?calibration={sid}"' in page
    # the call page opened from the session hides the forms (automatic and other people's answers)
    blind = sue.get(f"/calls/blue-good-en?calibration={sid}", headers=EN).text
    assert 'id="forms-blind"' in blind and f'id="form-{FORM}"' not in blind
    assert f'id="form-{FORM}"' in clients["ada"].get(f"/calls/blue-good-en?calibration={sid}", headers=EN).text
    # a wrong answer stores nothing; a non-evaluator cannot answer; only the lead or an admin closes
    assert "takes yes, no" in sam.get(_submit(sam, sid, calls[0], {"greeting": "perhaps"}).headers["location"],
                                      headers=EN).text
    assert _submit(clients["ada"], sid, calls[0], {"greeting": "yes"}).status_code == 403
    assert _submit(sam, sid, "blue-good-en-2", {"greeting": "yes"}).status_code == 404  # not in the session
    close = {"csrf_token": token(tia, f"/calibration/{sid}")}
    assert tia.post(f"/calibration/{sid}/close", data=close, follow_redirects=False).status_code == 403
    assert sam.post(f"/calibration/{sid}/close", data={"csrf_token": token(sam, f"/calibration/{sid}")},
                    follow_redirects=False).status_code == 303

    # closed: everyone's answers and the report, with Fleiss' kappa from the answers given
    data = tia.get(f"/api/calibration/{sid}").json()
    assert {a["evaluator"] for a in data["answers"]} == set(given)
    report = {q["id"]: q for q in data["report"]["questions"]}
    for qid in yes_no:
        ratings = [[(given[n] if c != "blue-good-en" else
                     {**given[n], "no_forbidden_phrases": "yes", "need_discovery": "yes"})[qid] for n in given]
                   for c in calls]
        expected = fleiss_kappa(count_table(ratings)[0])
        assert report[qid]["fleiss_kappa"] == (None if expected is None else pytest.approx(expected, abs=1e-3)), qid
    assert report["no_forbidden_phrases"]["fleiss_kappa"] == pytest.approx(1.0)
    assert report["no_forbidden_phrases"]["auto_agreement"] == pytest.approx(1.0)  # people agree with the flag
    assert report["correct_information"]["auto_note"] == "answered by people only"
    page = tia.get(f"/calibration/{sid}", headers=EN).text
    assert 'id="report"' in page and 'class="all-answers"' in page and "κ = 1.00" in page
    assert f'id="form-{FORM}"' in sue.get(f"/calls/blue-good-en?calibration={sid}", headers=EN).text
    r = _submit(sam, sid, calls[0], {"greeting": "no"})  # closed: no more answers
    assert "is closed" in sam.get(r.headers["location"], headers=EN).text


def test_an_evaluator_cannot_see_the_forms_of_a_call_under_calibration_however_opened(clients):
    """Issue 14 item 3: blindness follows the evaluator, not the link. Opened directly
    (`/calls/ID`, no `?calibration=`) or through the API, a call an evaluator evaluates in an open
    session shows no form (no automatic answers, no other people's answers, no scores) until the
    session closes; the lead who does not evaluate, and admins, see the forms as before."""
    sam, sue, tia = clients["sam"], clients["sue"], clients["tia"]
    call = "blue-good-en"
    assert f'id="form-{FORM}"' in sue.get(f"/calls/{call}", headers=EN).text  # before the session: visible
    r = _create(sam, [call], ["sue", "tia"], title="Direct-link check")
    assert r.status_code == 303 and r.headers["location"].startswith("/calibration/cal-")
    sid = r.headers["location"].rsplit("/", 1)[1]
    assert _answer(sam, call, "correct_information", "no").status_code == 303  # someone else's answer

    for name in ("sue", "tia"):  # the evaluators: a supervisor of the team and a trainer
        page = clients[name].get(f"/calls/{call}", headers=EN).text
        assert 'id="forms-blind"' in page and f'href="/calibration/{sid}' in page, name
        assert 'class="form-result"' not in page and "form-score" not in page, name
        assert 'data-question="correct_information"' not in page, name
        api = clients[name].get(f"/api/calls/{call}/forms")
        assert api.status_code == 403, name
        body = api.json()
        assert body["blind"] is True and body["session_id"] == sid and "until session" in body["message"]
        assert "score" not in body and "answers" not in api.text, name
    # a call outside the session is not affected
    assert f'id="form-{FORM}"' in sue.get("/calls/blue-bad-en", headers=EN).text
    assert FORM in _forms(sue, "blue-bad-en")
    # the lead (a supervisor who does not evaluate) and an admin see the forms and the answers
    for name in ("sam", "ada"):
        page = clients[name].get(f"/calls/{call}", headers=EN).text
        assert f'id="form-{FORM}"' in page and 'id="forms-blind"' not in page, name
        answers = {a["id"]: a for a in _forms(clients[name], call)[FORM]["answers"]}
        assert answers["correct_information"]["source"] == "human", name

    assert sam.post(f"/calibration/{sid}/close", data={"csrf_token": token(sam, f"/calibration/{sid}")},
                    follow_redirects=False).status_code == 303
    # closed: the evaluators see the forms again, on the page and through the API
    for name in ("sue", "tia"):
        page = clients[name].get(f"/calls/{call}", headers=EN).text
        assert f'id="form-{FORM}"' in page and 'id="forms-blind"' not in page, name
        answers = {a["id"]: a for a in _forms(clients[name], call)[FORM]["answers"]}
        assert answers["correct_information"]["answer"] == "no", name


# ---------------------------------------------------------------- the weekly review sample

def test_review_sample_lists_and_coverage_per_team(app, clients):
    sam, rex = clients["sam"], clients["rex"]
    page = sam.get("/review-sample?week=2026-W45", headers=EN).text
    assert 'id="no-sample"' in page  # nothing drawn yet: GET never draws
    assert sam.get("/api/review-sample?week=2026-W45").json()["stored"] is False
    r = sam.post("/review-sample", data={"csrf_token": token(sam, "/review-sample"), "week": "2026-w45"},
                 follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review-sample?week=2026-W45"
    mine = sam.get("/api/review-sample?week=2026-W45").json()["plan"]
    assert {o["operator_id"] for o in mine["operators"]} == {"op-b1", "op-b2"}  # team blue only
    assert {o["operator_id"]: o["total"] for o in mine["operators"]} == {"op-b1": 2, "op-b2": 1}
    listed = {r["call_id"] for r in mine["to_review"]}
    assert listed and listed <= {"blue-bad-en", "blue-bad-ru", "blue-good-en"}
    theirs = rex.get("/api/review-sample?week=2026-W45").json()["plan"]
    assert {o["operator_id"] for o in theirs["operators"]} == {"op-r1"}
    assert all(r["call_id"].startswith("red-") for r in theirs["to_review"])
    # coverage: blue-good-en has a person's form answer (reviewed); reviewing another call moves it off the list
    cov = {o["operator_id"]: o for o in mine["operators"]}
    assert cov["op-b2"]["reviewed"] == cov["op-b2"]["sampled"] == 1
    todo = next(r for r in mine["to_review"])
    sam.post(f"/calls/{todo['key']}/review", data={"csrf_token": token(sam), "status": "reviewed"})
    again = sam.get("/api/review-sample?week=2026-W45").json()["plan"]
    assert todo["call_id"] not in {r["call_id"] for r in again["to_review"]}
    assert again["totals"]["reviewed"] == mine["totals"]["reviewed"] + 1
    html = sam.get("/review-sample?week=2026-W45", headers=EN).text
    assert 'id="coverage"' in html and 'data-operator="op-b1"' in html and "op-r1" not in html
    assert sam.get("/review-sample?week=not-a-week", headers=EN).status_code == 400


@pytest.mark.parametrize("name", ["tia", "olga"])
def test_review_sample_is_for_reviewers_only(clients, name):
    client = clients[name]
    assert client.get("/review-sample", headers=EN).status_code == 403
    assert client.get("/api/review-sample").status_code == 403
    assert client.post("/review-sample", data={"csrf_token": token(client, "/queue" if name == "olga" else
                                                                   "/library"), "week": "2026-W45"},
                       follow_redirects=False).status_code == 403


def test_operator_has_no_calibration(clients):
    olga = clients["olga"]
    assert olga.get("/calibration", headers=EN).status_code == 404
    assert olga.get("/api/calibration").status_code == 404
    assert "/calibration" not in olga.get("/queue", headers=EN).text


@pytest.mark.parametrize("path", ["/calibration", "/review-sample", "/api/calibration", "/api/review-sample",
                                  "/api/calls/blue-bad-en/forms"])
def test_anonymous_gets_nothing(app, path):
    from fastapi.testclient import TestClient

    r = TestClient(app).get(path, follow_redirects=False)
    if path.startswith("/api/"):
        assert r.status_code == 401
    else:  # a page sends the visitor to the login form
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
