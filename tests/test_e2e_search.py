"""Search in real headless Chromium (issue 13): a supervisor searches, sees only their team's
moments with the words highlighted, clicks a hit and the call page's player stands at that
moment; a query with a syntax error is shown with its position. Same server and browser as
test_e2e_browser.py (Debian's chromium through Playwright); screenshots to test-artifacts/e2e/."""

from __future__ import annotations

import pytest
from test_e2e_browser import page, server, shot  # noqa: F401 - the shared fixtures
from test_web_store import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.mark.slow
def test_search_click_a_hit_and_the_player_is_at_the_moment(server, page):  # noqa: F811
    base = server["url"]
    page.goto(f"{base}/search?lang=en")
    assert "/login" in page.url
    page.fill("input[name=username]", "sam")  # supervisor of team blue
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/search?lang=en")

    # a query with an error: the message names the column, the query is shown with the place marked
    page.fill("#search-q", "manager AND (complaint")
    page.press("#search-q", "Enter")
    page.wait_for_selector("#search-error")
    assert "column 13" in page.locator("#search-error").inner_text()
    assert page.locator("#search-error mark.err").inner_text() == "("
    shot(page, "20-search-error")

    # the search: moments of team blue only, the word highlighted
    page.fill("#search-q", "client:complaint")
    page.press("#search-q", "Enter")
    page.wait_for_selector("table.search-hits")
    hits = page.locator("table.search-hits tbody tr.hit")
    assert hits.count() == 1  # blue-bad-en; red-bad-en says the same but is team red's
    assert "red-" not in page.locator("table.search-hits").inner_text()
    assert hits.first.locator("td.quote mark").inner_text() == "complaint"
    start = float(hits.first.get_attribute("data-start"))
    assert start == 13.5
    shot(page, "21-search-hits")

    # click the hit: the call page opens and its player stands at the moment
    hits.first.locator("a.hit-link").click()
    page.wait_for_url("**/calls/**?t=13.50")
    page.wait_for_function("document.getElementById('player') && document.getElementById('player').readyState >= 1")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {start}) < 0.25")
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(start, abs=0.25)
    assert "blue-bad-en" in page.locator("main").inner_text()
    shot(page, "22-search-call-at-moment")

    # the trends page: categories and topics per week, the change against the week before
    page.goto(f"{base}/trends?lang=en&periods=3")
    row = page.locator('table.trends tr[data-category="manager_request"]')
    assert row.locator("td.num").all_inner_texts() == ["0", "2", "0"]  # team blue's: weeks 44, 45, 46
    assert row.locator(".change").inner_text().startswith("-2")
    shot(page, "23-trends")

    assert not page.js_errors, page.js_errors  # no script errors, no CSP violations, no failed request
