"""The review that applies to a call (the latest per kind and target on the analysis stored
now) is one store query: the human-QA export, the applied scores, the flag queue and the
call page agree on it, and ignore reviews made on an earlier analysis."""

from __future__ import annotations

from test_store import make_result

from callqa.pipeline.people.library import human_qa_rows
from callqa.pipeline.store.db import Store

FLAG = {"id": "escalation", "severity": "high", "reason": "client asked for a manager",
        "evidence": [{"start": 2.0, "end": 3.5, "speaker": "client", "quote": "a manager"}]}


def _save(store: Store, analysis_id: str) -> None:
    store.save({**make_result("c-1", flags=[FLAG]), "analysis_id": analysis_id, "transcript_id": "t-1"})


def _page(store: Store) -> object:
    from callqa.pipeline.config import load_config
    from callqa.web.views import build_call_page

    return build_call_page(store.get("c-1"), load_config(), "en", lambda k, **kw: k)


def test_overrides_and_decisions_on_an_earlier_analysis_no_longer_apply_anywhere(tmp_path):
    store = Store(tmp_path / "store")
    _save(store, "a-1")
    store.add_review("c-1", "score_override", author="sam", target="active_listening",
                     value={"score": 20, "level": 1}, comment="interrupted twice")
    store.add_review("c-1", "flag", author="sam", target="escalation", status="dismissed")
    assert [(r["competency"], r["level"]) for r in human_qa_rows(store)] == [("active_listening", 1)]
    assert store.flags() == []  # dismissed
    page = _page(store)
    assert page.competencies[0]["override"]["value"]["level"] == 1
    assert page.flags[0]["decision"]["status"] == "dismissed"

    _save(store, "a-2")  # reprocessed: a new analysis nobody has judged yet
    assert human_qa_rows(store) == []  # the level-1 verdict judged other scores
    assert [f["flag_id"] for f in store.flags()] == ["escalation"]
    page = _page(store)
    assert page.competencies[0]["override"] is None and page.flags[0]["decision"] is None
    assert next(store.results())["competencies"][0]["score"] == 70.0

    store.add_review("c-1", "score_override", author="kim", target="active_listening",
                     value={"score": 80, "level": 3}, comment="fine on the new transcript")
    rows = human_qa_rows(store)
    assert [(r["competency"], r["level"], r["score"], r["author"]) for r in rows] == [("active_listening", 3, 80, "kim")]
    [applied] = store.latest_reviews("score_override")
    assert _page(store).competencies[0]["override"]["review_id"] == applied["review_id"]
    assert next(store.results())["competencies"][0]["score"] == 80
    marked = [r for r in store.reviews("c-1") if r["latest"]]
    assert [r["review_id"] for r in marked] == [applied["review_id"]]
