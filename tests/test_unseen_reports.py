"""Reports on calls of two languages (found by running the nightly flow on unseen calls): a report
is written in one language, so a category is named in that language, not in the language of
whichever call happened to store it first."""

from __future__ import annotations

import re
from pathlib import Path

from callqa.pipeline.config import load_config

SAMPLES = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def _inbox(tmp_path: Path, *samples: str) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for s in samples:
        (inbox / f"{s}.json").write_text((SAMPLES / f"{s}.json").read_text(encoding="utf-8"), encoding="utf-8")
    return inbox


def _tonight(report: str) -> list[str]:
    """The category column of the nightly report's 'Categories tonight' table."""
    table = report.split("Categories tonight (")[1].split("</table>")[0]
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>", table, flags=re.S)
    return [re.sub(r"<[^>]+>", "", r).strip() for r in rows]


def test_the_nightly_report_names_categories_in_its_own_language(tmp_path):
    from callqa.pipeline.batch import run_batch
    from callqa.pipeline.store.db import Store

    store = Store(tmp_path / "store")
    # a Russian and an English call: the Russian one stores "Угроза ухода", "Карта не работает" ...
    summary = run_batch([_inbox(tmp_path, "ru_bad_inbound_tx", "en_good_inbound_tx")], store.path, report=True)
    assert summary.processed == 2
    assert any(c["name"] == "Угроза ухода" for c in store.get("ru_bad_inbound_tx")["categories"])
    names = _tonight((store.reports_dir / "latest.html").read_text(encoding="utf-8"))
    assert names, "no category tonight"
    assert any(n.startswith("Churn threat") for n in names), names  # the English report: English names
    assert not [n for n in names if CYRILLIC.search(n)], names


def test_the_scorecard_names_categories_in_the_scorecards_language():
    from callqa.pipeline.people.reports import build_scorecard, render_scorecard_html
    from callqa.pipeline.process import process_call

    config = load_config()
    result = process_call(SAMPLES / "ru_bad_inbound_tx.json", config).serialize()
    assert any(c["name"] == "Угроза ухода" for c in result["categories"])  # stored in the call's language
    card = build_scorecard([result], "op-202", "2024-05", config)
    english = render_scorecard_html(card, config, "en")
    table = english.split('<table class="categories">')[1].split("</table>")[0]
    assert "Churn threat" in table and not CYRILLIC.search(table)
    russian = render_scorecard_html(card, config, "ru")
    assert "Угроза ухода" in russian.split('<table class="categories">')[1].split("</table>")[0]
