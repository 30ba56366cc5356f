"""Tables of the QA loop (evaluation-form answers, calibration sessions, review samples), kept in
the store's database beside its own tables and created on first use.

They go through the store's connection (`Store._connect`: the database file lock, shared for
reads and exclusive for writes), so the web app, the CLI and a batch can use them at once.

Tables (all additive; nothing here touches the store's own tables):

  form_answers          a person's answer to one question of a form on a call (latest wins)
  calibration_sessions  session_id, title, form_id, form_version, created_by, created_at, closed_at, closed_by
  calibration_calls     session_id, call_id, position
  calibration_evaluators session_id, evaluator
  calibration_answers   session_id, call_id, evaluator, question_id, answer (JSON), comment, answered_at
  review_samples        week, operator_id, team, call_id, stratum, seed, created_at
  saved_categories      category_id, names (JSON), query, severity, saved_by, saved_at, first_saved_at,
                        deleted: categories saved from the web app (pipeline/scoring/categories.py;
                        latest row per id wins, history kept)
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from callqa.pipeline.store.db import utcnow  # noqa: F401  (re-exported for the QA modules)

DDL: tuple[str, ...] = (
    'CREATE TABLE IF NOT EXISTS form_answers ("answer_id" VARCHAR, "call_id" VARCHAR, "form_id" VARCHAR, '
    '"form_version" VARCHAR, "question_id" VARCHAR, "answer" JSON, "author" VARCHAR, "comment" VARCHAR, '
    '"created_at" TIMESTAMP, "analysis_id" VARCHAR)',
    'CREATE TABLE IF NOT EXISTS calibration_sessions ("session_id" VARCHAR, "title" VARCHAR, "form_id" VARCHAR, '
    '"form_version" VARCHAR, "created_by" VARCHAR, "created_at" TIMESTAMP, "closed_at" TIMESTAMP, '
    '"closed_by" VARCHAR)',
    'CREATE TABLE IF NOT EXISTS calibration_calls ("session_id" VARCHAR, "call_id" VARCHAR, "position" INTEGER)',
    'CREATE TABLE IF NOT EXISTS calibration_evaluators ("session_id" VARCHAR, "evaluator" VARCHAR)',
    'CREATE TABLE IF NOT EXISTS calibration_answers ("session_id" VARCHAR, "call_id" VARCHAR, "evaluator" VARCHAR, '
    '"question_id" VARCHAR, "answer" JSON, "comment" VARCHAR, "answered_at" TIMESTAMP)',
    'CREATE TABLE IF NOT EXISTS review_samples ("week" VARCHAR, "operator_id" VARCHAR, "team" VARCHAR, '
    '"call_id" VARCHAR, "stratum" VARCHAR, "seed" INTEGER, "created_at" TIMESTAMP)',
    'CREATE TABLE IF NOT EXISTS saved_categories ("category_id" VARCHAR, "names" JSON, "query" VARCHAR, '
    '"severity" VARCHAR, "saved_by" VARCHAR, "saved_at" TIMESTAMP, "first_saved_at" TIMESTAMP, "deleted" BOOLEAN)',
)

TABLE_NAMES = tuple(d.split(" (")[0].split()[-1] for d in DDL)
_READY: set[str] = set()


@contextlib.contextmanager
def connect(store: Any, write: bool = False) -> Iterator[Any]:
    """A connection to `store`'s database with the QA tables present (created by the first
    access of this process, under the exclusive lock)."""
    key = str(store.db_path.resolve()) if store.db_path.exists() else ""
    if key and key in _READY:
        with store._connect(write=write) as con:
            have = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                               "(SELECT unnest(?))", [list(TABLE_NAMES)]).fetchall()[0][0]
            if have == len(TABLE_NAMES):
                yield con
                return
        _READY.discard(key)  # the database was replaced since: create the tables again
    with store._connect(write=True) as con:
        for ddl in DDL:
            con.execute(ddl)
        _READY.add(str(store.db_path.resolve()))
        yield con


def rows(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]
