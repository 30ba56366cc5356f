"""End to end in real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright): log in, open the first flagged call, click a timestamp and see the
audio's currentTime move, submit an override and see it listed, approve a
nomination and find it in the library. A screenshot per step goes to
test-artifacts/e2e/."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import wave
from pathlib import Path

import pytest
from test_web_store import PASSWORD, build_web_store

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "e2e"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
        "--autoplay-policy=no-user-gesture-required"]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    import uvicorn

    from callqa.web import create_app

    built = build_web_store(tmp_path_factory)
    store = tmp_path_factory.mktemp("e2e") / "store"
    shutil.copytree(built["store"], store)  # the API tests change their store; this one is our own
    app = create_app(store, built["config"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "app": app, "audio": built["audio"]}
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        pg = context.new_page()
        pg.set_default_timeout(15000)
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        pg.js_errors = errors  # type: ignore[attr-defined]
        yield pg
        context.close()
        browser.close()


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.slow
def test_supervisor_flow_in_chromium(server, page):
    base = server["url"]
    store = server["app"].state.ctx.store

    # 1. log in (English UI)
    page.goto(f"{base}/queue?lang=en")
    assert "/login" in page.url
    shot(page, "01-login")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queue?lang=en")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() >= 1
    assert page.locator("table.queue").inner_text().count("red-") == 0  # only team blue
    shot(page, "02-queue")

    # 2. open the most severe flagged call that has a recording (transcript imports have no player)
    links = [rows.nth(i).locator("a.call-link") for i in range(rows.count())]
    first = next(a for a in links if a.inner_text().strip() in server["audio"])
    call_id = first.inner_text().strip()
    first.click()
    page.wait_for_url(f"{base}/calls/{call_id}")
    audio = page.locator("#player")
    assert audio.count() == 1
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    duration = page.evaluate("document.getElementById('player').duration")
    with wave.open(str(server["audio"][call_id])) as w:
        assert duration == pytest.approx(w.getnframes() / w.getframerate(), abs=0.1)
    shot(page, "03-call")

    # 3. click a transcript timestamp: the audio jumps there
    stamp = page.locator("#transcript .turn a.ts").nth(2)
    target = float(stamp.get_attribute("data-seek"))
    assert target > 1.0
    stamp.click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {target}) < 1.0")
    assert page.evaluate("document.getElementById('player').currentTime") >= target - 0.05
    page.wait_for_selector("#turn-2.current", timeout=5000)  # the transcript follows playback
    # an evidence link of a flag jumps to the flagged moment
    ev = page.locator("#flags a.ts.ev").first
    ev_t = float(ev.get_attribute("data-seek"))
    ev.click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {ev_t}) < 1.0")
    shot(page, "04-seek")

    # 4. override a competency score and see it listed
    page.select_option("#overrides select[name=competency]", "active_listening")
    page.select_option("#overrides select[name=level]", "1")
    page.fill("#overrides input[name=score]", "35")
    page.fill("#overrides textarea[name=comment]", "Interrupted the client twice (e2e)")
    page.click("#overrides button[type=submit]")
    page.wait_for_selector("#override-list")
    listed = page.locator("#override-list").inner_text()
    assert "Interrupted the client twice (e2e)" in listed and "35" in listed and "sam" in listed
    assert page.locator(".flash").inner_text().strip() == "Override saved."
    reviews = [r for r in store.reviews(call_id) if r["kind"] == "score_override"]
    assert reviews[-1]["value"] == {"level": 1, "score": 35.0}
    shot(page, "05-override")

    # 5. approve a nomination and find it in the library
    page.goto(f"{base}/library?status=pending")
    row = page.locator("#library-items tbody tr").first
    key = row.get_attribute("data-key")
    row.locator("input[name=tags]").fill("e2e, calm")
    row.locator("button[value=approved]").click()
    page.wait_for_load_state()
    assert page.locator(".flash").inner_text().strip() == "Nomination approved."
    page.click("a.tab[data-status=approved]")
    page.wait_for_url("**status=approved**")
    found = page.locator(f'#library-items tr[data-key="{key}"]')
    assert found.count() == 1
    assert "e2e" in found.inner_text()
    page.select_option("select[name=tag]", "e2e")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**tag=e2e**")
    assert page.locator("#library-items tbody tr").count() == 1
    shot(page, "06-library")

    assert not page.js_errors, page.js_errors  # no script errors, no CSP violations


@pytest.mark.slow
def test_operator_disputes_a_score_and_sees_the_supervisor_accept_it(server, page):
    """Issue 14: an operator disputes a score on their call, the team's supervisor accepts it
    with a new score from the open-disputes list of the queue, the operator sees the new score."""
    from callqa.users import UserDB

    base = server["url"]
    store = server["app"].state.ctx.store
    cmap = server["app"].state.ctx.config.section("competency_map")
    if UserDB(store.path).get("olga") is None:
        UserDB(store.path).add("olga", "operator", PASSWORD, operator_id="op-b1")
    call_id = "blue-bad-en"  # op-b1's call with a recording
    comp = next(c for c in store.get(call_id)["competencies"]
                if c["score"] is not None and c["id"] != "active_listening")  # the other test overrides that one
    browser = page.context.browser

    def sign_in(name: str):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        pg = ctx.new_page()
        pg.set_default_timeout(15000)
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.goto(f"{base}/queue?lang=en")
        pg.fill("input[name=username]", name)
        pg.fill("input[name=password]", PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_url(f"{base}/queue?lang=en")
        return ctx, pg, errors

    op_ctx, op, op_errors = sign_in("olga")
    sup_ctx, sup, sup_errors = sign_in("sam")
    try:
        # 1. the operator's own calls only; open the call and dispute a score
        mine = {a.inner_text().strip() for a in op.locator("#my-calls a.call-link").all()}
        assert mine == {"blue-bad-en", "blue-bad-ru", "blue-good-en-2"}
        assert op.locator("nav.main-nav a[href='/library']").count() == 0
        shot(op, "07-operator-calls")
        op.click(f"#my-calls a.call-link:text-is('{call_id}')")
        op.wait_for_url(f"{base}/calls/{call_id}")
        op.select_option("#dispute-form select[name=target]", f"score:{comp['id']}")
        op.fill("#dispute-form textarea[name=comment]", "I followed the script (e2e)")
        op.click("#dispute-form button[type=submit]")
        op.wait_for_selector("article.dispute[data-status=open]")
        assert op.locator(".flash").inner_text().strip() == "Dispute sent to your supervisor."
        mine = op.locator("article.dispute[data-status=open]").filter(has_text="I followed the script (e2e)")
        dispute_id = mine.get_attribute("data-dispute")
        op.evaluate("window.scrollTo(0, 0)")  # the player sticks to the top of the window when scrolled
        shot(op, "08-operator-disputed")

        # 2. the supervisor sees it among open disputes in the queue and accepts it with a new score
        sup.reload()
        row = sup.locator("#open-disputes tbody tr").filter(has_text="I followed the script (e2e)")
        assert row.count() == 1
        shot(sup, "09-supervisor-open-disputes")
        row.locator("a.call-link").click()
        sup.wait_for_url(f"{base}/calls/{call_id}#disputes")
        form = sup.locator(f"form.dispute-decide[data-dispute='{dispute_id}']")
        form.locator("input[name=score]").fill("88")
        form.locator("textarea[name=comment]").fill("Listened again: agreed (e2e)")
        form.locator("button[value=accepted]").click()
        sup.wait_for_selector(f"article.dispute[data-dispute='{dispute_id}'][data-status=accepted]")
        assert sup.locator(".flash").inner_text().strip() == "Dispute accepted."
        sup.evaluate("window.scrollTo(0, 0)")
        shot(sup, "10-supervisor-accepted")
        [ov] = [r for r in store.latest_reviews("score_override", call_ids=[call_id]) if r["target"] == comp["id"]]
        assert ov["value"] == {"score": 88.0, "level": cmap.level_for(88.0)} and ov["author"] == "sam"

        # 3. the operator sees the outcome and the new score
        op.reload()
        card = op.locator(f"article.dispute[data-dispute='{dispute_id}']")
        assert "Accepted by sam" in card.inner_text() and card.locator(".new-score").inner_text() == "88.0"
        summary = op.locator(f"details.competency[data-competency={comp['id']}] summary").inner_text()
        assert "88" in summary
        op.evaluate("window.scrollTo(0, 0)")
        shot(op, "11-operator-new-score")
        op.goto(f"{base}/queue")
        assert "Accepted by sam" in op.locator("#my-disputes").inner_text()
        assert not op_errors and not sup_errors, op_errors + sup_errors
    finally:
        op_ctx.close()
        sup_ctx.close()


@pytest.mark.slow
def test_a_person_answers_a_form_question_and_the_form_score_changes(server, page):
    """Issue 14: on the call page a supervisor answers the evaluation-form question left for a
    person; the form is scored again and the new score is shown there and on the scorecard."""
    base = server["url"]
    store = server["app"].state.ctx.store
    call_id, form_id = "blue-good-en", "inbound_checklist"
    ctx = page.context.browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        pg.goto(f"{base}/calls/{call_id}?lang=en")
        pg.fill("input[name=username]", "sam")
        pg.fill("input[name=password]", PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_url(f"{base}/calls/{call_id}?lang=en")
        section = pg.locator(f"#form-{form_id}")
        before = section.locator("h2 .form-score").inner_text().strip()
        row = section.locator("tr[data-question=correct_information]")
        assert "for a person" in row.inner_text()
        # an automatic answer's evidence seeks the audio like any other evidence
        ev = section.locator("tr[data-question=greeting] a.ts.ev").first
        ev_t = float(ev.get_attribute("data-seek"))
        ev.click()
        pg.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {ev_t}) < 1.0")
        section.screenshot(path=str(ARTIFACTS / "12-form-before.png"))  # the player sticks to the top when scrolled
        row.locator("select[name=answer]").select_option("no")
        row.locator("input[name=comment]").fill("Quoted the wrong fee (e2e)")
        row.locator("button[type=submit]").click()
        pg.wait_for_selector(".flash")
        assert pg.locator(".flash").inner_text().strip() == "Answer saved; the form was scored again."
        after = pg.locator(f"#form-{form_id} h2 .form-score").inner_text().strip()
        assert float(after) < float(before)
        answered = pg.locator(f"#form-{form_id} tr[data-question=correct_information]").inner_text()
        assert "sam" in answered and "Quoted the wrong fee (e2e)" in answered
        pg.locator(f"#form-{form_id}").screenshot(path=str(ARTIFACTS / "13-form-answered.png"))
        from callqa.pipeline.qa.forms import call_form

        stored = call_form(store, call_id, form_id, server["app"].state.ctx.config)
        assert f"{stored.score:.1f}" == after and stored.complete
        # the scorecard's form results show the new score
        pg.goto(f"{base}/operators/op-b2?lang=en")
        cell = pg.locator(f"#forms article[data-form={form_id}] tr[data-call={call_id}] td.form-score")
        assert cell.inner_text().strip() == after
        shot(pg, "14-scorecard-forms")
        assert not errors, errors
    finally:
        ctx.close()
