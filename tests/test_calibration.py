"""Calibration statistics against published worked examples and independent reference
implementations on random data; blind calibration sessions in a store."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from callqa.pipeline.qa.calibration import (CalibrationError, answers, close_session, closed_answers, cohen_kappa,
                                         count_table, create_session, fleiss_kappa, icc, observed_agreement,
                                         session, session_report, sessions, submit_answer)

TX = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"

# Fleiss' kappa worked example (10 subjects, 14 raters, 5 categories; as in Fleiss 1971's method,
# the example reproduced in most textbooks and on Wikipedia): P-bar 0.378, P-e 0.213, kappa 0.210.
FLEISS_EXAMPLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]
# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges. ICC(1,1) .17, ICC(2,1) .29, ICC(3,1) .71.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def _fleiss_reference(ratings: list[list[str]]) -> float:
    """Fleiss' kappa the long way: agreeing ordered rater pairs per subject, category shares."""
    p_subjects = []
    for r in ratings:
        pairs = [(a, b) for i, a in enumerate(r) for j, b in enumerate(r) if i != j]
        p_subjects.append(sum(1 for a, b in pairs if a == b) / len(pairs))
    everything = [x for r in ratings for x in r]
    p_e = sum((everything.count(c) / len(everything)) ** 2 for c in set(everything))
    p_bar = sum(p_subjects) / len(p_subjects)
    return (p_bar - p_e) / (1 - p_e)


def _icc_reference(x: np.ndarray) -> tuple[float, float]:
    """ICC(2,1) and ICC(3,1) with the two-way ANOVA residual from a least-squares fit of
    subject and rater effects (dummy-coded), not from marginal means."""
    n, k = x.shape
    y = x.reshape(-1)
    rows = np.repeat(np.arange(n), k)
    cols = np.tile(np.arange(k), n)
    design = np.column_stack([np.ones(n * k)] + [(rows == i).astype(float) for i in range(1, n)]
                             + [(cols == j).astype(float) for j in range(1, k)])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    sse = float(((y - design @ beta) ** 2).sum())
    only_rows = np.column_stack([np.ones(n * k)] + [(rows == i).astype(float) for i in range(1, n)])
    b2, *_ = np.linalg.lstsq(only_rows, y, rcond=None)
    ss_cols = float(((y - only_rows @ b2) ** 2).sum()) - sse
    ss_rows = float(((y - y.mean()) ** 2).sum()) - sse - ss_cols
    bms, jms, ems = ss_rows / (n - 1), ss_cols / (k - 1), sse / ((n - 1) * (k - 1))
    return ((bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n), (bms - ems) / (bms + (k - 1) * ems))


def test_fleiss_kappa_matches_the_worked_example():
    assert fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(0.2099, abs=5e-4)
    ratings = [[c for c, m in enumerate(row) for _ in range(m)] for row in FLEISS_EXAMPLE]
    assert observed_agreement(ratings) == pytest.approx(0.378, abs=5e-4)


def test_icc_matches_shrout_and_fleiss():
    out = icc(SHROUT_FLEISS)
    assert out["icc1_1"] == pytest.approx(0.17, abs=0.005)
    assert out["icc2_1"] == pytest.approx(0.29, abs=0.005)
    assert out["icc3_1"] == pytest.approx(0.71, abs=0.005)


@pytest.mark.parametrize("seed", range(20))
def test_fleiss_kappa_matches_a_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n_subjects, n_raters = int(rng.integers(3, 30)), int(rng.integers(2, 8))
    cats = ["yes", "no", "na"][: int(rng.integers(2, 4))]
    # raters who agree with a per-subject truth some of the time, so kappa spans -ish..1
    truth = rng.choice(cats, n_subjects)
    p = float(rng.uniform(0.2, 0.95))
    ratings = [[t if rng.random() < p else str(rng.choice(cats)) for _ in range(n_raters)] for t in truth]
    if len({x for r in ratings for x in r}) < 2:
        pytest.skip("every rating in one category: kappa undefined")
    ours = fleiss_kappa(count_table(ratings)[0])
    assert ours == pytest.approx(_fleiss_reference(ratings), abs=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_icc_matches_a_reference_on_random_data(seed):
    rng = np.random.default_rng(100 + seed)
    n, k = int(rng.integers(3, 25)), int(rng.integers(2, 6))
    true = rng.normal(60, 15, n)
    bias = rng.normal(0, 8, k)
    x = np.clip(true[:, None] + bias[None, :] + rng.normal(0, float(rng.uniform(1, 20)), (n, k)), 0, 100)
    out = icc(x)
    ref2, ref3 = _icc_reference(x)
    assert out["icc2_1"] == pytest.approx(ref2, abs=1e-9)
    assert out["icc3_1"] == pytest.approx(ref3, abs=1e-9)


def test_cohen_kappa_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        a = [str(v) for v in rng.choice(["yes", "no", "na"], n)]
        b = [x if rng.random() < 0.6 else str(rng.choice(["yes", "no", "na"])) for x in a]
        assert cohen_kappa(a, b) == pytest.approx(metrics.cohen_kappa_score(a, b), abs=1e-9)


def test_undefined_statistics_are_none():
    assert fleiss_kappa([[3, 0], [3, 0]]) is None  # everyone always said the same
    assert fleiss_kappa([[2, 1]]) is None  # one subject
    assert icc([[50, 50]])["icc2_1"] is None  # one subject
    assert cohen_kappa(["yes"] * 4, ["yes"] * 4) is None
    with pytest.raises(ValueError, match="complete rows"):
        icc([[1.0, float("nan")], [2.0, 3.0]])


# ---------------------------------------------------------------- blind sessions

@pytest.fixture(scope="module")
def store_calls(tmp_path_factory):
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import process_call
    from callqa.pipeline.store.db import Store

    config = load_config()
    store = Store(tmp_path_factory.mktemp("cal") / "store")
    ids = []
    for name in ("en_bad_inbound_tx", "en_good_inbound_tx", "en_difficult_calm_tx"):
        result = process_call(TX / f"{name}.json", config).serialize()
        store.save(result)
        ids.append(result["call_id"])
    return store, ids, config


def test_a_blind_session_from_start_to_report(store_calls):
    store, ids, config = store_calls
    s = create_session(store, title="W48", form_id="inbound_checklist", call_ids=ids,
                       evaluators=["ann", "bob", "cat"], created_by="lead", config=config)
    sid = s["session_id"]
    assert s["calls"] == ids and s["evaluators"] == ["ann", "bob", "cat"] and not s["closed"]
    # correct_information: people only; greeting: automatic too; need_discovery scored by people
    plan = {"ann": ["yes", "yes", "no"], "bob": ["yes", "no", "no"], "cat": ["yes", "yes", "no"]}
    greeting = {"ann": ["yes", "yes", "yes"], "bob": ["no", "yes", "yes"], "cat": ["yes", "yes", "yes"]}
    for who in plan:
        for cid, a, g in zip(ids, plan[who], greeting[who]):
            submit_answer(store, sid, evaluator=who, call_id=cid, question_id="correct_information", answer=a,
                          config=config)
            submit_answer(store, sid, evaluator=who, call_id=cid, question_id="greeting", answer=g, config=config)
    # bob changes his mind: the latest answer counts
    submit_answer(store, sid, evaluator="bob", call_id=ids[1], question_id="correct_information", answer="yes",
                  config=config, comment="listened again")
    plan["bob"][1] = "yes"
    # blind: each sees only their own answers while the session is open; progress shows counts only
    seen = answers(store, sid, viewer="ann")
    assert {a["evaluator"] for a in seen} == {"ann"} and len(seen) == 6
    assert answers(store, sid, viewer="lead") == []
    assert session(store, sid)["progress"] == {"ann": 6, "bob": 6, "cat": 6}
    with pytest.raises(CalibrationError, match="still open"):
        session_report(store, sid, config)
    with pytest.raises(CalibrationError, match="not an evaluator"):
        submit_answer(store, sid, evaluator="eve", call_id=ids[0], question_id="greeting", answer="yes", config=config)
    with pytest.raises(CalibrationError, match="not in calibration session"):
        submit_answer(store, sid, evaluator="ann", call_id="other", question_id="greeting", answer="yes",
                      config=config)
    assert [x["session_id"] for x in sessions(store, evaluator="bob")] == [sid]
    assert sessions(store, evaluator="eve") == []

    closed = close_session(store, sid, by="lead")
    assert closed["closed"] and closed["closed_by"] == "lead"
    assert {a["evaluator"] for a in answers(store, sid, viewer="ann")} == {"ann", "bob", "cat"}
    with pytest.raises(CalibrationError, match="closed"):
        submit_answer(store, sid, evaluator="ann", call_id=ids[0], question_id="greeting", answer="no", config=config)

    report = session_report(store, sid, config)
    by_q = {q["id"]: q for q in report["questions"]}
    ci = by_q["correct_information"]
    expected = fleiss_kappa(count_table([[plan[w][i] for w in plan] for i in range(3)])[0])
    assert ci["fleiss_kappa"] == pytest.approx(expected, abs=1e-3) and ci["answers"] == 9
    assert ci["auto_pairs"] == 0 and ci["auto_note"] == "answered by people only"
    g = by_q["greeting"]
    auto = {c["call_id"]: c for c in closed_answers(store, config) if c["question_id"] == "greeting"}
    autos = [auto[c]["auto"] for c in ids]
    assert set(autos) <= {"yes", "no"}
    humans = [(greeting[w][i], autos[i]) for w in greeting for i in range(3)]
    assert g["auto_pairs"] == 9
    assert g["auto_agreement"] == pytest.approx(sum(h == m for h, m in humans) / 9, abs=1e-3)
    assert by_q["farewell"]["answers"] == 0 and by_q["farewell"]["fleiss_kappa"] is None


def test_scores_are_compared_with_icc(store_calls):
    store, ids, config = store_calls
    sid = create_session(store, title="scores", form_id="competencies", call_ids=ids, evaluators=["ann", "bob"],
                         created_by="lead", config=config)["session_id"]
    given = {"ann": [20, 80, 90], "bob": [30, 85, 80]}
    for who, scores in given.items():
        for cid, v in zip(ids, scores):
            submit_answer(store, sid, evaluator=who, call_id=cid, question_id="clear_speech", answer=v, config=config)
    with pytest.raises(Exception, match="score 0..100"):
        submit_answer(store, sid, evaluator="ann", call_id=ids[0], question_id="clear_speech", answer="yes",
                      config=config)
    close_session(store, sid, by="lead")
    q = next(q for q in session_report(store, sid, config)["questions"] if q["id"] == "clear_speech")
    ref = icc(np.array([given["ann"], given["bob"]], dtype=float).T)
    assert q["statistic"] == "icc" and q["complete_calls"] == 3
    assert q["icc2_1"] == pytest.approx(ref["icc2_1"], abs=1e-3)
    assert q["icc3_1"] == pytest.approx(ref["icc3_1"], abs=1e-3)
    stored = [json.loads(json.dumps(r)) for r in closed_answers(store, config) if r["session_id"] == sid]
    autos = {r["call_id"]: r["auto"] for r in stored}
    assert all(isinstance(v, float) for v in autos.values())
    diffs = [abs(given[w][i] - autos[c]) for w in given for i, c in enumerate(ids)]
    assert q["auto_mae"] == pytest.approx(sum(diffs) / len(diffs), abs=0.01)


def test_sessions_refuse_bad_setups(store_calls):
    from callqa.pipeline.config import load_config

    store, ids, config = store_calls
    with pytest.raises(CalibrationError, match="two evaluators"):
        create_session(store, title="x", form_id="inbound_checklist", call_ids=ids, evaluators=["ann"],
                       created_by="lead", config=config)
    with pytest.raises(CalibrationError, match="no analysed call 'nope'"):
        create_session(store, title="x", form_id="inbound_checklist", call_ids=["nope"], evaluators=["a", "b"],
                       created_by="lead", config=config)
    sid = create_session(store, title="x", form_id="inbound_checklist", call_ids=ids[:1], evaluators=["a", "b"],
                         created_by="lead", config=config)["session_id"]
    changed = load_config(overrides={"forms": {"items": {"inbound_checklist": {"pass_threshold": 95}}}})
    with pytest.raises(CalibrationError, match="changed since"):
        submit_answer(store, sid, evaluator="a", call_id=ids[0], question_id="greeting", answer="yes", config=changed)
    with pytest.raises(CalibrationError, match="no calibration session"):
        session(store, "cal-none")


def test_many_raters_many_questions_stay_consistent():
    # kappa is invariant to relabelling the categories and to the order of raters
    rng = np.random.default_rng(3)
    ratings = [[str(v) for v in rng.choice(["yes", "no"], 4)] for _ in range(12)]
    k1 = fleiss_kappa(count_table(ratings)[0])
    flipped = [[{"yes": "no", "no": "yes"}[x] for x in r] for r in ratings]
    shuffled = [list(reversed(r)) for r in ratings]
    assert fleiss_kappa(count_table(flipped)[0]) == pytest.approx(k1)
    assert fleiss_kappa(count_table(shuffled)[0]) == pytest.approx(k1)
    assert list(itertools.islice(count_table(ratings)[1], 2)) in (["yes", "no"], ["no", "yes"])


def test_closed_sessions_feed_validate(store_calls, tmp_path, capsys):
    from callqa.cli import main
    from callqa.pipeline.qa.calibration import auto_agreement

    store, ids, config = store_calls
    for form_id, qid, given in (("inbound_checklist", "greeting", {"ann": ["no", "yes", "yes"],
                                                                   "bob": ["yes", "yes", "no"]}),
                                ("inbound_checklist", "correct_information", {"ann": ["no"] * 3, "bob": ["yes"] * 3}),
                                ("competencies", "clear_speech", {"ann": [10, 50, 90], "bob": [20, 60, 70]})):
        sid = create_session(store, title="validate", form_id=form_id, call_ids=ids, evaluators=list(given),
                             created_by="lead", config=config)["session_id"]
        for who, values in given.items():
            for cid, v in zip(ids, values):
                submit_answer(store, sid, evaluator=who, call_id=cid, question_id=qid, answer=v, config=config)
        close_session(store, sid, by="lead")
    rows = closed_answers(store, config)
    agree = {(r["form"], r["question"]): r for r in auto_agreement(rows)}
    g = agree[("inbound_checklist", "greeting")]
    pairs = [(r["answer"], r["auto"]) for r in rows if r["question_id"] == "greeting" and r["auto"] is not None]
    assert g["n"] == len(pairs) and g["agreement"] == pytest.approx(sum(h == m for h, m in pairs) / len(pairs),
                                                                    abs=1e-3)
    assert g["kappa"] == pytest.approx(cohen_kappa([h for h, _ in pairs], [m for _, m in pairs]), abs=1e-3)
    scored = [(float(r["answer"]), float(r["auto"])) for r in rows
              if r["question_id"] == "clear_speech" and r["auto"] is not None]
    cs = agree[("competencies", "clear_speech")]
    assert cs["n"] == len(scored) >= 6 and cs["kappa"] is None  # this session's 6, and any closed before
    assert cs["mae"] == pytest.approx(sum(abs(h - m) for h, m in scored) / len(scored), abs=0.01)
    assert cs["bias"] == pytest.approx(sum(h - m for h, m in scored) / len(scored), abs=0.01)
    assert ("inbound_checklist", "correct_information") not in agree  # no automatic answer to compare
    out = tmp_path / "validation"
    assert main(["validate", "--store", str(store.path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Calibration sessions" in printed and "clear_speech" in printed
    csv = (out / "calibration_agreement.csv").read_text(encoding="utf-8")
    assert csv.splitlines()[0].startswith("form,question,n,agreement,kappa,mae,bias")
    assert "inbound_checklist,greeting," in csv
