"""The embedded store: one DuckDB database file plus Parquet copies of its tables.

Layout of a store directory (docs/nightly.md documents every column)::

    STORE/
      callqa.duckdb          the database (source of truth; one transaction per call)
      parquet/<table>.parquet  the same tables for DuckDB / polars users, refreshed after
                             every batch (and `reviews` after every review)
      reports/               nightly HTML reports
      quarantine/            bad input files, when a batch is asked to move them

A call is stored once, keyed by its call id, together with its identity (call id + input
sha256 + `transcript_id` + `analysis_id`, pipeline/identity.py): a batch skips a call whose
stored identity matches, re-runs only the analysis when a stored transcript has the call's
`transcript_id` (table `transcripts`), and redoes the whole call otherwise. An analysis that
is replaced stays addressable by its `analysis_id` (table `analyses`), with the reviews made on it.

Concurrency: every database access opens a short-lived connection under a file lock
(shared for reads, exclusive for writes), so batch workers in several processes, the
web app and report commands can use one store at once. A whole batch run also holds
the store's run lock (`Store.lock`), so two runs never process a call twice.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from callqa.pipeline.errors import PathError
from callqa.pipeline.severity import RANK, rank

# 2: transcript_id / analysis_id on calls and results, analysis_id on reviews, one
#    nomination per call listing its competencies (`nominations.competencies`).
# 3: `disputes` (an operator's dispute of a score or flag and the supervisor's decision,
#    one row per step; pipeline/qa/disputes.py). A version-2 store gains the empty table.
# 4: `transcripts` (the transcript stage's record per call and transcript_id: what `callqa
#    rescore` analyses again) and `analyses` (earlier analyses of a call, by analysis_id). A
#    version-3 store gains both tables empty: its calls have no stored transcript until the
#    next batch transcribes them once more (their identity is defined per stage since 4).
STORE_SCHEMA_VERSION = 4
DB_FILE = "callqa.duckdb"
PROCESSING_ERROR = "processing_error"

# Flag severities rank on the one scale of pipeline/severity.py (the `severity_rank` column).
SEVERITY_RANK = RANK
SECRET_FILE = ".web_secret"

# What a person can record about a call (`Store.add_review`):
#   review          the call was looked at (status e.g. reviewed / needs_coaching), comment
#   score_override  target = competency id, value = {"score": 0..100, "level": 1..4}
#   flag            target = flag id, status confirmed | dismissed
#   nomination      target = "call" (the call's one nomination), status approved | rejected
#                   (stores before version 2 named a competency; any target counts for the call)
# Every review names the `analysis_id` it judged. After reprocessing (a new analysis) it
# is no longer applied to scores, flags or nominations; it is listed as "on an earlier
# analysis" (`current` false in `Store.get` / `Store.reviews`).
REVIEW_KINDS = ("review", "score_override", "flag", "nomination")
NOMINATION_TARGET = "call"

# Table columns, in order: (name, DuckDB type). Parquet files have the same columns.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "calls": (
        ("call_id", "VARCHAR"), ("identity", "VARCHAR"), ("status", "VARCHAR"), ("error", "VARCHAR"),
        ("error_kind", "VARCHAR"), ("source_path", "VARCHAR"), ("sha256", "VARCHAR"),
        ("config_hash", "VARCHAR"), ("models_key", "VARCHAR"), ("asr_model", "VARCHAR"),
        ("diarization", "VARCHAR"), ("sentiment_model", "VARCHAR"), ("language", "VARCHAR"),
        ("duration_s", "DOUBLE"), ("operator_id", "VARCHAR"), ("team", "VARCHAR"), ("role", "VARCHAR"),
        ("direction", "VARCHAR"), ("started_at", "VARCHAR"), ("scenario", "VARCHAR"), ("difficult", "BOOLEAN"),
        ("n_turns", "INTEGER"), ("n_flags", "INTEGER"), ("max_severity", "VARCHAR"), ("severity_rank", "INTEGER"),
        ("n_nominations", "INTEGER"), ("schema_version", "INTEGER"), ("run_id", "VARCHAR"),
        ("processed_at", "TIMESTAMP"), ("processing_s", "DOUBLE"),
        ("transcript_id", "VARCHAR"), ("analysis_id", "VARCHAR"),
    ),
    "results": (("call_id", "VARCHAR"), ("result", "JSON"), ("transcript_id", "VARCHAR"), ("analysis_id", "VARCHAR")),
    "turns": (
        ("call_id", "VARCHAR"), ("turn", "INTEGER"), ("speaker", "VARCHAR"), ("start", "DOUBLE"),
        ("end", "DOUBLE"), ("text", "VARCHAR"), ("n_words", "INTEGER"), ("channel", "INTEGER"),
        ("avg_logprob", "DOUBLE"),
    ),
    "signals": (
        ("call_id", "VARCHAR"), ("signal", "VARCHAR"), ("speaker", "VARCHAR"), ("value", "DOUBLE"),
        ("value_json", "JSON"),
    ),
    "indicators": (
        ("call_id", "VARCHAR"), ("indicator_id", "VARCHAR"), ("value", "DOUBLE"), ("value_json", "JSON"),
        ("score", "DOUBLE"), ("n_evidence", "INTEGER"), ("start", "DOUBLE"), ("quote", "VARCHAR"),
        ("evidence", "JSON"),
    ),
    "competencies": (
        ("call_id", "VARCHAR"), ("competency_id", "VARCHAR"), ("score", "DOUBLE"), ("level", "INTEGER"),
        ("indicators", "VARCHAR[]"),
    ),
    "flags": (
        ("call_id", "VARCHAR"), ("flag_idx", "INTEGER"), ("flag_id", "VARCHAR"), ("severity", "VARCHAR"),
        ("severity_rank", "INTEGER"), ("reason", "VARCHAR"), ("start", "DOUBLE"), ("end", "DOUBLE"),
        ("speaker", "VARCHAR"), ("quote", "VARCHAR"), ("evidence", "JSON"),
    ),
    "nominations": (
        ("call_id", "VARCHAR"), ("nomination_idx", "INTEGER"), ("competency_id", "VARCHAR"),
        ("scenario", "VARCHAR"), ("score", "DOUBLE"), ("reason", "VARCHAR"), ("data", "JSON"),
        ("competencies", "VARCHAR[]"),
    ),
    "reviews": (
        ("review_id", "VARCHAR"), ("call_id", "VARCHAR"), ("kind", "VARCHAR"), ("target", "VARCHAR"),
        ("status", "VARCHAR"), ("value", "JSON"), ("author", "VARCHAR"), ("comment", "VARCHAR"),
        ("call_identity", "VARCHAR"), ("created_at", "TIMESTAMP"), ("analysis_id", "VARCHAR"),
    ),
    # One row per step of a dispute (raised, then accepted or rejected), never rewritten;
    # `analysis_id` is the analysis the dispute was raised on; an acceptance names the
    # review it made (`review_id`: the score override or flag dismissal) and its `value`.
    "disputes": (
        ("dispute_id", "VARCHAR"), ("call_id", "VARCHAR"), ("step", "VARCHAR"), ("kind", "VARCHAR"),
        ("target", "VARCHAR"), ("operator_id", "VARCHAR"), ("team", "VARCHAR"), ("analysis_id", "VARCHAR"),
        ("author", "VARCHAR"), ("comment", "VARCHAR"), ("value", "JSON"), ("review_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
    ),
    # The transcript stage's record (pipeline/process.py: TranscriptRecord), redacted when
    # privacy.redact is on; one row per call and transcript_id, kept when a new one is made.
    "transcripts": (
        ("transcript_id", "VARCHAR"), ("call_id", "VARCHAR"), ("sha256", "VARCHAR"), ("language", "VARCHAR"),
        ("duration_s", "DOUBLE"), ("run_id", "VARCHAR"), ("created_at", "TIMESTAMP"), ("record", "JSON"),
    ),
    # Earlier analyses of a call (the current one is in `results`), moved here when replaced:
    # reviews, overrides and disputes keep naming the analysis_id they judged.
    "analyses": (
        ("analysis_id", "VARCHAR"), ("call_id", "VARCHAR"), ("transcript_id", "VARCHAR"), ("run_id", "VARCHAR"),
        ("processed_at", "TIMESTAMP"), ("replaced_at", "TIMESTAMP"), ("result", "JSON"),
    ),
    "quarantine": (
        ("path", "VARCHAR"), ("call_id", "VARCHAR"), ("identity", "VARCHAR"), ("reason", "VARCHAR"),
        ("error_kind", "VARCHAR"), ("moved_to", "VARCHAR"), ("run_id", "VARCHAR"), ("quarantined_at", "TIMESTAMP"),
    ),
    "processing_log": (
        ("run_id", "VARCHAR"), ("call_id", "VARCHAR"), ("identity", "VARCHAR"), ("outcome", "VARCHAR"),
        ("worker", "VARCHAR"), ("wall_s", "DOUBLE"), ("logged_at", "TIMESTAMP"),
    ),
    "runs": (
        ("run_id", "VARCHAR"), ("status", "VARCHAR"), ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"),
        ("inbox", "VARCHAR"), ("config_hash", "VARCHAR"), ("workers", "INTEGER"), ("planned", "INTEGER"),
        ("discovered", "INTEGER"), ("processed", "INTEGER"), ("skipped", "INTEGER"), ("failed", "INTEGER"),
        ("flagged", "INTEGER"), ("nominated", "INTEGER"), ("audio_s", "DOUBLE"), ("wall_s", "DOUBLE"),
        ("report", "VARCHAR"), ("summary", "JSON"), ("host", "VARCHAR"), ("pid", "INTEGER"),
    ),
    "meta": (("key", "VARCHAR"), ("value", "VARCHAR")),
}
# Rows of these tables belong to one stored call and are replaced with it.
CALL_TABLES = ("calls", "results", "turns", "signals", "indicators", "competencies", "flags", "nominations")
PARQUET_TABLES = tuple(t for t in TABLES if t != "meta")

# SQL: review `r` judged the analysis of call `c` that is stored now. Reviews and results
# from before analysis ids fall back to the store identity the review was made on.
CURRENT_REVIEW = ("(r.analysis_id IS NOT DISTINCT FROM c.analysis_id "
                  "AND (r.analysis_id IS NOT NULL OR r.call_identity IS NOT DISTINCT FROM c.identity))")


def load_or_create_secret(store_dir: str | Path) -> str:
    """The store's secret (`STORE/.web_secret`, mode 0600, created when missing): it signs the web
    app's cookies and keys the call links of the web app and the nightly digest (`redact.call_key`)."""
    import secrets

    path = Path(store_dir).expanduser() / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < 32:
            raise ValueError(f"{path}: the web secret is too short; delete the file to make a new one") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret + "\n")
    return secret


class StoreError(PathError):
    """The store cannot be used (busy, damaged, or asked something invalid)."""


class StoreLocked(StoreError):
    """Another batch run holds the store's run lock."""

    def __init__(self, path: str | Path, holder: Mapping[str, Any] | None):
        self.holder = dict(holder or {})
        who = ", ".join(f"{k} {v}" for k, v in self.holder.items() if v) or "another process"
        super().__init__(path, f"another batch run is using this store ({who}); "
                               "wait for it to finish, or run with --wait to queue behind it")


@dataclass(frozen=True)
class CallIdentity:
    """What makes a stored analysis current: call id, input file hash and the ids of its two
    stages (pipeline/identity.py: `transcript_id`, `analysis_id`)."""

    call_id: str
    sha256: str
    transcript_id: str
    analysis_id: str

    @property
    def key(self) -> str:
        raw = "\x1f".join((self.call_id, self.sha256, self.transcript_id, self.analysis_id))
        return sha256(raw.encode("utf-8")).hexdigest()[:24]

    def serialize(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


@dataclass(frozen=True)
class StoredCall:
    """The store's bookkeeping about one call (no analysis)."""

    call_id: str
    identity: str | None
    status: str  # ok | error
    error_kind: str | None
    run_id: str | None

    def serialize(self) -> dict[str, Any]:
        return asdict(self)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


severity_rank = rank  # pipeline/severity.py: numbers as themselves, words by the scale, unknown words as medium


def _json(value: Any) -> str | None:
    from callqa.pipeline.jsonable import to_plain

    return None if value is None else json.dumps(to_plain(value), ensure_ascii=False, default=str)


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- locks

class _FileLock:
    """An advisory `flock` on a file. Separate instances conflict even inside one
    process (each opens its own descriptor), so it guards threads and processes alike."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, shared: bool = False, timeout: float | None = None, poll: float = 0.05) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode)
                self._fd = fd
                return True
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(poll)

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def write_info(self, info: Mapping[str, Any]) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(dict(info)).encode(), 0)

    def read_info(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}


# --------------------------------------------------------------------------- rows

def _flatten_signals(call_id: str, signals: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Signals as long rows: numeric leaves in `value`, strings and lists in `value_json`;
    a last key `operator` / `client` becomes the `speaker` column."""
    rows: list[dict[str, Any]] = []

    def walk(prefix: tuple[str, ...], node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(prefix + (str(k),), v)
            return
        speaker = None
        keys = prefix
        if len(keys) > 1 and keys[-1] in ("operator", "client"):
            speaker, keys = keys[-1], keys[:-1]
        num = _num(node)
        rows.append({"call_id": call_id, "signal": ".".join(keys), "speaker": speaker, "value": num,
                     "value_json": None if num is not None or node is None else _json(node)})

    if signals:
        walk((), signals)
    return rows


def _first_evidence(evidence: Any) -> dict[str, Any]:
    if isinstance(evidence, list) and evidence and isinstance(evidence[0], Mapping):
        return dict(evidence[0])
    return {}


def _call_rows(result: Mapping[str, Any], identity: CallIdentity | None, run_id: str | None,
               models_key: str | None) -> dict[str, list[dict[str, Any]]]:
    """The rows one call result contributes to each call table."""
    cid = str(result["call_id"])
    source = result.get("source") or {}
    models = result.get("models") or {}
    flags = [f for f in (result.get("flags") or []) if isinstance(f, Mapping)]
    nominations = [n for n in (result.get("nominations") or []) if isinstance(n, Mapping)]
    turns = ((result.get("transcript") or {}).get("turns")) or []
    top = max(flags, key=lambda f: severity_rank(f.get("severity")), default=None)
    timings = (result.get("processing") or {}).get("timings_s") or {}
    status = str(result.get("status") or "ok")
    call = {
        "call_id": cid, "identity": identity.key if identity else None, "status": status,
        "error": result.get("error"), "error_kind": result.get("error_kind"),
        "source_path": source.get("path"), "sha256": source.get("sha256"),
        "config_hash": result.get("config_hash"), "models_key": models_key,
        "asr_model": models.get("asr"), "diarization": models.get("diarization"),
        "sentiment_model": models.get("sentiment"), "language": result.get("language"),
        "duration_s": _num(result.get("duration_s")), "operator_id": result.get("operator_id"),
        "team": result.get("team"), "role": result.get("role"), "direction": result.get("direction"),
        "started_at": result.get("started_at"), "scenario": result.get("scenario"),
        "difficult": result.get("difficult"), "n_turns": len(turns), "n_flags": len(flags),
        "max_severity": None if top is None else str(top.get("severity")),
        "severity_rank": None if top is None else severity_rank(top.get("severity")),
        "n_nominations": len(nominations), "schema_version": result.get("schema_version"),
        "run_id": run_id, "processed_at": utcnow(), "processing_s": _num(timings.get("total_s")),
        "transcript_id": result.get("transcript_id"), "analysis_id": result.get("analysis_id"),
    }
    rows: dict[str, list[dict[str, Any]]] = {
        "calls": [call],
        "results": [{"call_id": cid, "result": _json(dict(result)), "transcript_id": result.get("transcript_id"),
                     "analysis_id": result.get("analysis_id")}],
        "turns": [{"call_id": cid, "turn": i, "speaker": t.get("speaker"), "start": _num(t.get("start")),
                   "end": _num(t.get("end")), "text": t.get("text"), "n_words": len(t.get("words") or []),
                   "channel": t.get("channel"), "avg_logprob": _num(t.get("avg_logprob"))}
                  for i, t in enumerate(turns)],
        "signals": _flatten_signals(cid, result.get("signals")),
        "indicators": [],
        "competencies": [],
        "flags": [],
        "nominations": [],
    }
    for ind in result.get("indicators") or []:
        ev = ind.get("evidence") or []
        first = _first_evidence(ev)
        value = ind.get("value")
        rows["indicators"].append({
            "call_id": cid, "indicator_id": ind.get("id"), "value": _num(value),
            "value_json": None if _num(value) is not None or value is None else _json(value),
            "score": _num(ind.get("score")), "n_evidence": len(ev), "start": _num(first.get("start")),
            "quote": first.get("quote"), "evidence": _json(ev)})
    for comp in result.get("competencies") or []:
        rows["competencies"].append({
            "call_id": cid, "competency_id": comp.get("id"), "score": _num(comp.get("score")),
            "level": comp.get("level"), "indicators": [str(i) for i in comp.get("indicators") or []]})
    for i, flag in enumerate(flags):
        ev = flag.get("evidence") or []
        first = _first_evidence(ev)
        rows["flags"].append({
            "call_id": cid, "flag_idx": i, "flag_id": flag.get("id"),
            "severity": None if flag.get("severity") is None else str(flag.get("severity")),
            "severity_rank": severity_rank(flag.get("severity")), "reason": flag.get("reason"),
            "start": _num(first.get("start")), "end": _num(first.get("end")), "speaker": first.get("speaker"),
            "quote": first.get("quote"), "evidence": _json(ev)})
    for i, nom in enumerate(nominations):
        shown = [str(c.get("id")) for c in nom.get("competencies") or [] if isinstance(c, Mapping) and c.get("id")]
        first = nom.get("competency") or nom.get("competency_id") or nom.get("id") or (shown[0] if shown else None)
        rows["nominations"].append({
            "call_id": cid, "nomination_idx": i, "competency_id": first,
            "scenario": nom.get("scenario") or result.get("scenario"), "score": _num(nom.get("score")),
            "reason": nom.get("reason") or (None if nom.get("rank_key") is None else str(nom.get("rank_key"))),
            "data": _json(dict(nom)), "competencies": shown or ([str(first)] if first else [])})
    return rows


# --------------------------------------------------------------------------- store

class Store:
    """A store directory (created when missing). Cheap to construct; every method
    opens and closes its own connection, so instances can be made per task."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 300.0):
        self.path = Path(path).expanduser()
        self.busy_timeout_s = busy_timeout_s
        self._schema_ready = False

    # ---- paths
    @property
    def db_path(self) -> Path:
        return self.path / DB_FILE

    @property
    def parquet_dir(self) -> Path:
        return self.path / "parquet"

    @property
    def reports_dir(self) -> Path:
        return self.path / "reports"

    @property
    def quarantine_dir(self) -> Path:
        return self.path / "quarantine"

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ---- connections
    def _prepare_dir(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(self.path, f"cannot create the store directory: {e.strerror or e}") from None
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(self.path, "is not a directory")

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[Any]:
        """A connection under the database lock (exclusive for writes)."""
        import duckdb

        self._prepare_dir()
        if not self._schema_ready:
            write = True  # the first access creates tables and replays a crashed writer's WAL
        lock = _FileLock(self.path / ".db.lock")
        if not lock.acquire(shared=not write, timeout=self.busy_timeout_s):
            raise StoreError(self.path, f"the database stayed busy for {self.busy_timeout_s:.0f} s")
        try:
            con = None
            deadline = time.monotonic() + self.busy_timeout_s
            while con is None:
                try:
                    con = duckdb.connect(str(self.db_path), read_only=not write)
                except duckdb.IOException as e:  # held by a program outside our locks (e.g. the duckdb CLI)
                    if "lock" not in str(e).lower() or time.monotonic() > deadline:
                        raise StoreError(self.db_path, f"cannot open the database: {e}") from None
                    time.sleep(0.2)
                except duckdb.Error as e:
                    raise StoreError(self.db_path, f"cannot open the database: {e}") from None
            try:
                if not self._schema_ready:
                    self._create_schema(con)
                    self._schema_ready = True
                yield con
            finally:
                con.close()
        finally:
            lock.release()

    def _create_schema(self, con: Any) -> None:
        row = None
        if _one(con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'meta'")):
            row = _one(con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
        if row is not None and int(row[0]) > STORE_SCHEMA_VERSION:
            raise StoreError(self.db_path, f"store schema version {row[0]} is newer than this callqa "
                                           f"understands ({STORE_SCHEMA_VERSION}); upgrade callqa")
        for name, cols in TABLES.items():
            ddl = ", ".join(f'"{c}" {t}' for c, t in cols)
            con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({ddl})')
        if row is None:
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(STORE_SCHEMA_VERSION)])
        elif int(row[0]) < STORE_SCHEMA_VERSION:
            self._migrate(con, int(row[0]))

    def _migrate(self, con: Any, version: int) -> None:
        """Bring an older store to STORE_SCHEMA_VERSION in one transaction: new columns are
        added at the end of their tables (the order TABLES lists) and filled from what
        the store already holds."""
        con.execute("BEGIN TRANSACTION")
        try:
            for name, cols in TABLES.items():
                have = {r[0] for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]).fetchall()}
                for c, t in cols:
                    if c not in have:
                        con.execute(f'ALTER TABLE "{name}" ADD COLUMN "{c}" {t}')
            if version < 2:
                # ids from the stored result documents (results made before them have none)
                con.execute("UPDATE results SET transcript_id = json_extract_string(result, '$.transcript_id'), "
                            "analysis_id = json_extract_string(result, '$.analysis_id')")
                con.execute("UPDATE calls SET transcript_id = r.transcript_id, analysis_id = r.analysis_id "
                            "FROM results r WHERE r.call_id = calls.call_id")
                # a review made on the analysis stored now judged that analysis
                con.execute("UPDATE reviews SET analysis_id = c.analysis_id FROM calls c "
                            "WHERE c.call_id = reviews.call_id AND reviews.analysis_id IS NULL "
                            "AND reviews.call_identity IS NOT DISTINCT FROM c.identity")
                con.execute("UPDATE nominations SET competencies = [competency_id] "
                            "WHERE competencies IS NULL AND competency_id IS NOT NULL")
            # version 3 only adds the `disputes` table, version 4 `transcripts` and `analyses`
            # (created above, empty)
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(STORE_SCHEMA_VERSION)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @staticmethod
    def _insert(con: Any, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows through an Arrow table (much faster than row-by-row parameters)."""
        if not rows:
            return
        import pyarrow as pa

        schema = _arrow_schema(table)
        data = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)
        con.from_arrow(data).insert_into(table)  # columns are in the table's order

    @staticmethod
    def _dicts(cursor: Any) -> list[dict[str, Any]]:
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # ---- run lock
    @contextlib.contextmanager
    def lock(self, wait: bool | float = False, owner: str = "") -> Iterator[None]:
        """The store's exclusive run lock, held for a whole batch. Busy: raises
        `StoreLocked` naming the holder, or waits (`wait=True`, or up to `wait` seconds)."""
        self._prepare_dir()
        lock = _FileLock(self.path / ".run.lock")
        timeout: float | None
        if wait is True:
            timeout = None
        elif wait is False:
            timeout = 0.0
        else:
            timeout = float(wait)
        if not lock.acquire(timeout=timeout, poll=0.25):
            raise StoreLocked(self.path, lock.read_info())
        try:
            lock.write_info({"pid": os.getpid(), "host": socket.gethostname(), "owner": owner,
                             "since": utcnow().isoformat(timespec="seconds")})
            yield
        finally:
            lock.release()

    # ---- identity and bookkeeping
    def stored(self, call_ids: Iterable[str] | None = None) -> dict[str, StoredCall]:
        """Bookkeeping rows (no analysis) for the given call ids, or for all."""
        with self._connect() as con:
            if call_ids is None:
                cur = con.execute("SELECT call_id, identity, status, error_kind, run_id FROM calls")
            else:
                ids = list(call_ids)
                if not ids:
                    return {}
                cur = con.execute("SELECT call_id, identity, status, error_kind, run_id FROM calls "
                                  "WHERE call_id IN (SELECT unnest(?))", [ids])
            return {r[0]: StoredCall(*r) for r in cur.fetchall()}

    def done_identities(self) -> set[str]:
        """Identity keys that need no processing: analysed calls and bad inputs (which
        fail the same way until the file, config or models change)."""
        with self._connect() as con:
            rows = con.execute("SELECT identity FROM calls WHERE identity IS NOT NULL "
                               "AND (status = 'ok' OR error_kind = 'input') "
                               "UNION SELECT identity FROM quarantine WHERE identity IS NOT NULL "
                               "AND error_kind = 'input'").fetchall()
        return {r[0] for r in rows}

    def has(self, identity: CallIdentity) -> bool:
        """True when this exact call (same input, config and models) needs no processing."""
        with self._connect() as con:
            row = _one(con.execute(
                "SELECT 1 FROM calls WHERE call_id = ? AND identity = ? AND (status = 'ok' OR error_kind = 'input') "
                "UNION ALL SELECT 1 FROM quarantine WHERE identity = ? AND error_kind = 'input' LIMIT 1",
                [identity.call_id, identity.key, identity.key]))
        return row is not None

    # ---- writes
    def save(self, result: Mapping[str, Any], *, identity: CallIdentity | None = None, run_id: str | None = None,
             wall_s: float | None = None, worker: str | None = None, transcript: Mapping[str, Any] | None = None,
             outcome: str = "processed") -> None:
        """Store one call result (CONTRACTS.md dict) atomically, replacing the current analysis
        of the same call id (kept in `analyses` when its analysis_id differs). Reviews of the call
        are kept. `transcript`: the transcript stage's record it was made from (a serialized
        pipeline.process.TranscriptRecord), stored by transcript_id; None when the stored one was
        reused. `worker`: the host:pid that computed it (default: this process)."""
        self.save_many([dict(result=result, identity=identity, wall_s=wall_s, transcript=transcript)],
                       run_id=run_id, worker=worker, outcome=outcome)

    def save_many(self, calls: Sequence[Mapping[str, Any]], *, run_id: str | None = None, worker: str | None = None,
                  outcome: str = "processed") -> None:
        """`save` for several calls through one connection, each call in its own transaction;
        `calls`: mappings with `result` and optionally `identity`, `wall_s`, `transcript`."""
        prepared = []
        for call in calls:
            result, identity = call["result"], call.get("identity")
            if not isinstance(result, Mapping) or not result.get("call_id"):
                raise StoreError(self.path, "a call result needs a 'call_id'")
            prepared.append((str(result["call_id"]), result.get("analysis_id"), _call_rows(result, identity, run_id, None),
                             identity, call.get("wall_s"), call.get("transcript")))
        if not prepared:
            return
        with self._connect(write=True) as con:
            for cid, aid, rows, identity, wall_s, transcript in prepared:
                con.execute("BEGIN TRANSACTION")
                try:
                    self._keep_earlier_analysis(con, cid, aid)
                    if transcript is not None:
                        self._save_transcript(con, transcript, run_id)
                    for table in CALL_TABLES:
                        con.execute(f'DELETE FROM "{table}" WHERE call_id = ?', [cid])
                        self._insert(con, table, rows[table])
                    self._insert(con, "processing_log", [{
                        "run_id": run_id, "call_id": cid, "identity": identity.key if identity else None,
                        "outcome": outcome, "worker": worker or worker_name(), "wall_s": wall_s,
                        "logged_at": utcnow()}])
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise

    def _keep_earlier_analysis(self, con: Any, call_id: str, analysis_id: str | None) -> None:
        """Before the current analysis of a call is replaced by `analysis_id`: keep it in
        `analyses` when it is another one (an analysis that becomes current again leaves it)."""
        old = _one(con.execute(
            "SELECT r.analysis_id, r.transcript_id, c.run_id, c.processed_at, r.result FROM results r "
            "JOIN calls c USING (call_id) WHERE r.call_id = ? AND c.status = 'ok'", [call_id]))
        if old is not None and old[0] is not None and old[0] != analysis_id:
            con.execute("DELETE FROM analyses WHERE call_id = ? AND analysis_id = ?", [call_id, old[0]])
            self._insert(con, "analyses", [{"analysis_id": old[0], "call_id": call_id, "transcript_id": old[1],
                                            "run_id": old[2], "processed_at": old[3], "replaced_at": utcnow(),
                                            "result": old[4]}])
        if analysis_id is not None:
            con.execute("DELETE FROM analyses WHERE call_id = ? AND analysis_id = ?", [call_id, analysis_id])

    def _save_transcript(self, con: Any, record: Mapping[str, Any], run_id: str | None) -> None:
        tid, cid = record.get("transcript_id"), record.get("call_id")
        if not tid or not cid:
            raise StoreError(self.path, "a stored transcript needs a 'transcript_id' and a 'call_id'")
        con.execute("DELETE FROM transcripts WHERE call_id = ? AND transcript_id = ?", [cid, tid])
        self._insert(con, "transcripts", [{
            "transcript_id": tid, "call_id": cid, "sha256": (record.get("source") or {}).get("sha256"),
            "language": record.get("language"), "duration_s": _num(record.get("duration_s")), "run_id": run_id,
            "created_at": utcnow(), "record": _json(dict(record))}])

    def save_transcript(self, record: Mapping[str, Any], *, run_id: str | None = None) -> None:
        """Store a transcript stage's record (serialized TranscriptRecord) by call and transcript_id
        (`save` does it with the analysis; this is for records made or copied on their own)."""
        with self._connect(write=True) as con:
            self._save_transcript(con, record, run_id)

    def stored_transcripts(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """{(call_id, transcript_id): record} of the stored transcripts among `keys`."""
        keys = list(keys)
        if not keys:
            return {}
        with self._connect() as con:
            rows = con.execute(
                "SELECT t.call_id, t.transcript_id, t.record FROM transcripts t "
                "JOIN (SELECT unnest(?) AS call_id, unnest(?) AS transcript_id) k USING (call_id, transcript_id)",
                [[k[0] for k in keys], [k[1] for k in keys]]).fetchall()
        return {(c, t): json.loads(r) for c, t, r in rows}

    def rescore_candidates(self, *, call_ids: Sequence[str] | None = None,
                           since: str | None = None) -> list[dict[str, Any]]:
        """The analysed calls (all, those in `call_ids`, or those started, else processed, on
        or after `since`), each with its analysis metadata, current `analysis_id` and the stored
        record of its transcript (`record` None when the store holds none: analysed before store
        version 4, or removed)."""
        sql = ("SELECT c.call_id, c.analysis_id, c.transcript_id, c.team, c.role, c.scenario, c.operator_id, "
               "c.started_at, t.record FROM calls c LEFT JOIN transcripts t "
               "ON t.call_id = c.call_id AND t.transcript_id = c.transcript_id WHERE c.status = 'ok'")
        params: list[Any] = []
        if call_ids is not None:
            sql += " AND c.call_id IN (SELECT unnest(?))"
            params.append(list(call_ids))
        if since is not None:
            sql += " AND coalesce(try_cast(c.started_at AS TIMESTAMP), c.processed_at) >= try_cast(? AS TIMESTAMP)"
            params.append(since)
        with self._connect() as con:
            out = self._dicts(con.execute(sql + " ORDER BY c.call_id", params))
        for r in out:
            r["record"] = None if r["record"] is None else json.loads(r["record"])
        return out

    def current_analyses(self) -> dict[str, tuple[str | None, str | None]]:
        """{call_id: (transcript_id, analysis_id)} of the analysed calls."""
        with self._connect() as con:
            rows = con.execute("SELECT call_id, transcript_id, analysis_id FROM calls WHERE status = 'ok'").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def analysis(self, analysis_id: str, call_id: str | None = None) -> dict[str, Any] | None:
        """The call result of an analysis, current or earlier (`current` says which), with the
        reviews made on it; None when the store never held it."""
        where = "" if call_id is None else " AND call_id = ?"
        params = [analysis_id] + ([] if call_id is None else [call_id])
        with self._connect() as con:
            row = _one(con.execute(f"SELECT call_id, result, true FROM results WHERE analysis_id = ?{where} "
                                   f"UNION ALL SELECT call_id, result, false FROM analyses WHERE analysis_id = ?{where} "
                                   "LIMIT 1", params + params))
            if row is None:
                return None
            result = json.loads(row[1])
            result["current"] = bool(row[2])
            result["reviews"] = [r for r in self._reviews(con, row[0]) if r["analysis_id"] == analysis_id]
        return result

    def analyses(self, call_id: str) -> list[dict[str, Any]]:
        """Every analysis of a call the store holds, oldest first: analysis_id, transcript_id,
        run_id, processed_at, current."""
        with self._connect() as con:
            return self._dicts(con.execute(
                "SELECT analysis_id, transcript_id, run_id, processed_at, false AS current FROM analyses "
                "WHERE call_id = ? UNION ALL SELECT analysis_id, transcript_id, run_id, processed_at, true FROM calls "
                "WHERE call_id = ? AND status = 'ok' ORDER BY processed_at", [call_id, call_id]))

    def save_error(self, call_id: str, path: str | Path, reason: str, *, identity: CallIdentity | None = None,
                   kind: str = "input", run_id: str | None = None, moved_to: str | Path | None = None,
                   wall_s: float | None = None, worker: str | None = None) -> dict[str, Any]:
        """Record a call that could not be processed: a `processing_error` flag with the
        reason, and a quarantine entry for the file. A good earlier analysis of the same
        call id is kept (a corrupt re-delivery does not erase it). Returns the record."""
        flag = {"id": PROCESSING_ERROR, "severity": "high", "reason": reason, "evidence": []}
        record = {
            "schema_version": 1, "call_id": call_id, "status": "error", "error": reason, "error_kind": kind,
            "source": {"path": str(path), "sha256": identity.sha256 if identity else None},
            "transcript_id": identity.transcript_id if identity else None,
            "analysis_id": identity.analysis_id if identity else None, "flags": [flag],
            "transcript": {"turns": []}, "indicators": [], "competencies": [], "nominations": [],
        }
        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                keep = _one(con.execute("SELECT 1 FROM calls WHERE call_id = ? AND status = 'ok'", [call_id]))
                if keep is None:
                    rows = _call_rows(record, identity, run_id, None)
                    for table in CALL_TABLES:
                        con.execute(f'DELETE FROM "{table}" WHERE call_id = ?', [call_id])
                        self._insert(con, table, rows[table])
                self._insert(con, "quarantine", [{
                    "path": str(path), "call_id": call_id, "identity": identity.key if identity else None,
                    "reason": reason, "error_kind": kind, "moved_to": None if moved_to is None else str(moved_to),
                    "run_id": run_id, "quarantined_at": utcnow()}])
                self._insert(con, "processing_log", [{
                    "run_id": run_id, "call_id": call_id, "identity": identity.key if identity else None,
                    "outcome": "failed", "worker": worker or worker_name(), "wall_s": wall_s, "logged_at": utcnow()}])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return record

    def add_quarantine(self, path: str | Path, reason: str, *, call_id: str | None = None,
                       run_id: str | None = None, kind: str = "input") -> None:
        """List a file that was not processed at all (e.g. a duplicate call id)."""
        with self._connect(write=True) as con:
            self._insert(con, "quarantine", [{"path": str(path), "call_id": call_id, "identity": None,
                                              "reason": reason, "error_kind": kind, "moved_to": None,
                                              "run_id": run_id, "quarantined_at": utcnow()}])

    def add_review(self, call_id: str, kind: str = "review", *, author: str, target: str | None = None,
                   status: str | None = None, value: Any = None, comment: str | None = None,
                   analysis_id: str | None = None) -> dict[str, Any]:
        """Append a person's review, score override, flag decision or nomination approval
        (REVIEW_KINDS), naming the analysis it judged: the one stored now. Given
        `analysis_id` (the analysis the person saw), a call reprocessed since is refused.
        Reviews are never rewritten; the latest one per target on the current analysis wins."""
        row = self._review_row(call_id, kind, author=author, target=target, status=status, value=value,
                               comment=comment)
        with self._connect(write=True) as con:
            self._insert_review(con, row, analysis_id)
        self.export_parquet(("reviews",))
        return {**row, "value": value, "created_at": row["created_at"].isoformat()}

    def _review_row(self, call_id: str, kind: str, *, author: str, target: str | None, status: str | None,
                    value: Any, comment: str | None) -> dict[str, Any]:
        """A checked review row (not yet stored; `_insert_review` names its analysis)."""
        if kind not in REVIEW_KINDS:
            raise StoreError(self.path, f"review kind must be one of {', '.join(REVIEW_KINDS)}, got {kind!r}")
        if not author:
            raise StoreError(self.path, "a review needs an author")
        if kind == "nomination":
            target = target or NOMINATION_TARGET
        if kind in ("score_override", "flag") and not target:
            raise StoreError(self.path, f"a {kind} review needs a target (competency or flag id)")
        if kind == "score_override":
            if not isinstance(value, Mapping) or not ({"score", "level"} & set(value)):
                raise StoreError(self.path, "a score override needs value={'score': 0..100, 'level': 1..4}")
            score, level = value.get("score"), value.get("level")
            if score is not None and not (isinstance(score, (int, float)) and 0 <= score <= 100):
                raise StoreError(self.path, f"override score must be 0..100, got {score!r}")
            if level is not None and level not in (1, 2, 3, 4):
                raise StoreError(self.path, f"override level must be 1..4, got {level!r}")
        return {"review_id": uuid.uuid4().hex, "call_id": call_id, "kind": kind, "target": target,
                "status": status, "value": _json(value), "author": author, "comment": comment,
                "created_at": utcnow()}

    def _insert_review(self, con: Any, row: dict[str, Any], analysis_id: str | None) -> None:
        """Store a `_review_row` on the call's current analysis (refused when `analysis_id`
        names another one: the call was reprocessed since the person looked)."""
        call_id = row["call_id"]
        found = _one(con.execute("SELECT identity, analysis_id FROM calls WHERE call_id = ?", [call_id]))
        if found is None:
            raise StoreError(self.path, f"no call {call_id!r} in the store")
        if analysis_id is not None and found[1] is not None and analysis_id != found[1]:
            raise StoreError(self.path, f"call {call_id!r} was reprocessed (analysis {found[1]}); "
                                        f"the review was made on {analysis_id}: reload the call")
        row["call_identity"], row["analysis_id"] = found
        self._insert(con, "reviews", [row])

    # ---- runs
    def start_run(self, run_id: str, *, inbox: str, config_hash: str, workers: int, planned: int,
                  discovered: int) -> None:
        with self._connect(write=True) as con:
            con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
            self._insert(con, "runs", [{"run_id": run_id, "status": "running", "started_at": utcnow(),
                                        "inbox": inbox, "config_hash": config_hash, "workers": workers,
                                        "planned": planned, "discovered": discovered, "host": socket.gethostname(),
                                        "pid": os.getpid()}])

    def finish_run(self, run_id: str, summary: Mapping[str, Any], report: str | None) -> None:
        keys = ("processed", "skipped", "failed", "flagged", "nominated", "audio_s", "wall_s")
        with self._connect(write=True) as con:
            con.execute(
                "UPDATE runs SET status = 'finished', finished_at = ?, report = ?, summary = ?, "
                + ", ".join(f"{k} = ?" for k in keys) + " WHERE run_id = ?",
                [utcnow(), report, _json(dict(summary))] + [summary.get(k) for k in keys] + [run_id])

    def run_progress(self, run_id: str) -> tuple[int, int | None]:
        """(calls finished so far, calls planned) for a run; planned is None before it starts."""
        with self._connect() as con:
            done = _one(con.execute("SELECT count(*) FROM processing_log WHERE run_id = ?", [run_id]))[0]
            row = _one(con.execute("SELECT planned FROM runs WHERE run_id = ?", [run_id]))
        return int(done), (None if row is None else row[0])

    def runs(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            return self._dicts(con.execute("SELECT * EXCLUDE (summary) FROM runs ORDER BY started_at"))

    # ---- reads
    def get(self, call_id: str, *, with_reviews: bool = True) -> dict[str, Any] | None:
        """The stored result dict of a call (error records have status 'error'), with
        its `reviews` (oldest first; `current` false for those on an earlier analysis)
        when asked."""
        with self._connect() as con:
            row = _one(con.execute("SELECT result FROM results WHERE call_id = ?", [call_id]))
            if row is None:
                return None
            result = json.loads(row[0])
            if with_reviews:
                result["reviews"] = self._reviews(con, call_id)
        return result

    def get_many(self, call_ids: Iterable[str], *, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """The stored result dicts of the given calls (no reviews, no overrides; unknown ids
        skipped), a page of calls per connection: for readers of many calls (the search index)."""
        ids = sorted(set(call_ids))
        for i in range(0, len(ids), page_size):
            with self._connect() as con:
                rows = con.execute("SELECT result FROM results WHERE call_id IN (SELECT unnest(?)) ORDER BY call_id",
                                   [ids[i:i + page_size]]).fetchall()
            for (text,) in rows:
                yield json.loads(text)

    def results(self, *, include_errors: bool = False, apply_overrides: bool = True,
                page_size: int = 200, config: Any = None) -> Iterator[dict[str, Any]]:
        """Every stored call result (CONTRACTS.md dicts), ordered by call id. With
        `apply_overrides` a supervisor's latest score override on the current analysis
        replaces a competency's score/level (competency.apply_override, with `config`'s
        competency map; the default configuration when None; the original is kept under
        `override.original`)."""
        if apply_overrides and config is None:
            from callqa.pipeline.config import load_config

            config = load_config()
        last = ""
        while True:
            with self._connect() as con:
                where = "" if include_errors else "AND c.status = 'ok'"
                rows = con.execute(
                    f"SELECT r.call_id, r.result FROM results r JOIN calls c USING (call_id) "
                    f"WHERE r.call_id > ? {where} ORDER BY r.call_id LIMIT ?", [last, page_size]).fetchall()
                overrides = self._overrides(con, [r[0] for r in rows]) if apply_overrides and rows else {}
            if not rows:
                return
            for cid, text in rows:
                result = json.loads(text)
                if cid in overrides:
                    _apply_overrides(result, overrides[cid], config)
                yield result
            last = rows[-1][0]

    def _reviews(self, con: Any, call_id: str) -> list[dict[str, Any]]:
        """Every review of a call, oldest first; `current`: on the analysis stored now; `latest`:
        the one `latest_reviews` returns for its kind and target (what is applied to the call)."""
        out = self._dicts(con.execute(
            "SELECT r.review_id, r.kind, r.target, r.status, r.value, r.author, r.comment, r.call_identity, "
            f"r.created_at, r.analysis_id, coalesce({CURRENT_REVIEW}, false) AS current, "
            "l.review_id IS NOT NULL AS latest "
            "FROM reviews r LEFT JOIN calls c USING (call_id) "
            f"LEFT JOIN ({self.latest_reviews_sql()}) l ON l.review_id = r.review_id WHERE r.call_id = ? "
            "ORDER BY r.created_at, r.review_id", [call_id]))
        for r in out:
            r["value"] = None if r["value"] is None else json.loads(r["value"])
            r["created_at"] = r["created_at"].isoformat()
        return out

    @staticmethod
    def latest_reviews_sql(kind: str | None = None, current_only: bool = True) -> str:
        """SQL of the latest review per call, kind and target (on the current analysis only,
        unless asked otherwise); nomination decisions are one per call, whatever their target.
        The one definition of "the review that applies": `latest_reviews`, the flag queue,
        nominations, score overrides, disputes, the call page (`latest` on `get`'s reviews) and
        the human-QA export all read it. Columns: review_id, call_id, kind, target, status,
        value (JSON text), author, comment, created_at, analysis_id, current."""
        if kind is not None and kind not in REVIEW_KINDS:
            raise ValueError(f"review kind must be one of {', '.join(REVIEW_KINDS)}, got {kind!r}")
        target = "CASE WHEN r.kind = 'nomination' THEN '' ELSE coalesce(r.target, '') END"
        where = ["1=1"]
        if kind is not None:
            where.append(f"r.kind = '{kind}'")
        if current_only:
            where.append(CURRENT_REVIEW)
        return ("SELECT r.review_id, r.call_id, r.kind, r.target, r.status, r.value, r.author, r.comment, "
                f"r.created_at, r.analysis_id, coalesce({CURRENT_REVIEW}, false) AS current "
                "FROM reviews r LEFT JOIN calls c USING (call_id) WHERE " + " AND ".join(where) +
                f" QUALIFY row_number() OVER (PARTITION BY r.call_id, r.kind, {target} "
                "ORDER BY r.created_at DESC, r.review_id DESC) = 1")

    def latest_reviews(self, kind: str | None = None, *, call_ids: Sequence[str] | None = None,
                       current_only: bool = True) -> list[dict[str, Any]]:
        """The latest review per call, kind and target (`value` decoded): by default only
        reviews of the analysis stored now, which are the ones applied to it."""
        if kind is not None and kind not in REVIEW_KINDS:
            raise StoreError(self.path, f"review kind must be one of {', '.join(REVIEW_KINDS)}, got {kind!r}")
        sql = f"SELECT * FROM ({self.latest_reviews_sql(kind, current_only)})"
        params: list[Any] = []
        if call_ids is not None:
            sql += " WHERE call_id IN (SELECT unnest(?))"
            params.append(list(call_ids))
        with self._connect() as con:
            out = self._dicts(con.execute(sql + " ORDER BY call_id, kind, target", params))
        for r in out:
            r["value"] = None if r["value"] is None else json.loads(r["value"])
        return out

    def _overrides(self, con: Any, call_ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        rows = con.execute(
            f"SELECT call_id, target, value, author, created_at, analysis_id FROM ({self.latest_reviews_sql('score_override')}) "
            "WHERE call_id IN (SELECT unnest(?))", [call_ids]).fetchall()
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for cid, target, value, author, at, aid in rows:
            out.setdefault(cid, {})[target] = {**json.loads(value), "by": author, "at": at.isoformat(),
                                               "analysis_id": aid}
        return out

    def calls(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """Bookkeeping and headline columns of every call (no transcript)."""
        with self._connect() as con:
            if status is None:
                return self._dicts(con.execute("SELECT * FROM calls ORDER BY call_id"))
            return self._dicts(con.execute("SELECT * FROM calls WHERE status = ? ORDER BY call_id", [status]))

    def flags(self, *, min_severity: int | str | None = None, include_dismissed: bool = False,
              call_id: str | None = None) -> list[dict[str, Any]]:
        """The supervisor queue: flags sorted by severity (highest first), then time of the
        call, each with its reason, first evidence moment and the latest flag decision on
        the current analysis (a flag dismissed on an earlier analysis is listed again)."""
        floor = None if min_severity is None else severity_rank(min_severity)
        sql = (
            f"WITH decision AS ({self.latest_reviews_sql('flag')}) "
            "SELECT f.call_id, f.flag_idx, f.flag_id, f.severity, f.severity_rank, f.reason, f.start, f.\"end\", "
            "  f.speaker, f.quote, f.evidence, c.operator_id, c.team, c.started_at, c.language, c.duration_s, "
            "  d.status AS decision, d.author AS decided_by "
            "FROM flags f JOIN calls c USING (call_id) "
            "LEFT JOIN decision d ON d.call_id = f.call_id AND d.target = f.flag_id WHERE 1=1")
        params: list[Any] = []
        if floor is not None:
            sql += " AND f.severity_rank >= ?"
            params.append(floor)
        if call_id is not None:
            sql += " AND f.call_id = ?"
            params.append(call_id)
        if not include_dismissed:
            sql += " AND coalesce(d.status, '') <> 'dismissed'"
        sql += " ORDER BY f.severity_rank DESC, c.started_at DESC NULLS LAST, f.call_id, f.flag_idx"
        with self._connect() as con:
            out = self._dicts(con.execute(sql, params))
        for r in out:
            r["evidence"] = json.loads(r["evidence"]) if r["evidence"] else []
        return out

    def nominations(self, *, competency: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Exemplary-call nominations (one per call; stores before version 2 may hold one per
        call and competency) with the competencies each shows and its approval status:
        pending until a person approves or rejects it on the current analysis
        (`add_review(kind='nomination')`)."""
        sql = (
            f"WITH decision AS ({self.latest_reviews_sql('nomination')}) "
            "SELECT n.call_id, n.nomination_idx, n.competency_id, n.competencies, n.scenario, n.score, n.reason, "
            "  n.data, c.operator_id, c.team, c.language, c.started_at, c.difficult, c.analysis_id, "
            "  coalesce(d.status, 'pending') AS status, d.author AS decided_by, d.value AS decision_value, "
            "  d.comment AS decision_comment, d.created_at AS decided_at "
            "FROM nominations n JOIN calls c USING (call_id) "
            "LEFT JOIN decision d ON d.call_id = n.call_id WHERE 1=1")
        params: list[Any] = []
        if competency is not None:
            sql += " AND list_contains(coalesce(n.competencies, [n.competency_id]), ?)"
            params.append(competency)
        if status is not None:
            sql += " AND coalesce(d.status, 'pending') = ?"
            params.append(status)
        sql += " ORDER BY n.competency_id, n.score DESC NULLS LAST, n.call_id"
        with self._connect() as con:
            out = self._dicts(con.execute(sql, params))
        for r in out:
            r["data"] = json.loads(r["data"]) if r["data"] else {}
        return out

    def reviews(self, call_id: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as con:
            if call_id is not None:
                return self._reviews(con, call_id)
            ids = [r[0] for r in con.execute("SELECT DISTINCT call_id FROM reviews ORDER BY 1").fetchall()]
            return [{"call_id": cid, **r} for cid in ids for r in self._reviews(con, cid)]

    def quarantine(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Files that could not be processed, with the reason (newest first)."""
        with self._connect() as con:
            if run_id is None:
                return self._dicts(con.execute("SELECT * FROM quarantine ORDER BY quarantined_at DESC, path"))
            return self._dicts(con.execute("SELECT * FROM quarantine WHERE run_id = ? ORDER BY path", [run_id]))

    def processing_log(self, run_id: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as con:
            if run_id is None:
                return self._dicts(con.execute("SELECT * FROM processing_log ORDER BY logged_at"))
            return self._dicts(con.execute("SELECT * FROM processing_log WHERE run_id = ? ORDER BY logged_at", [run_id]))

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """A read-only SQL query over the store's tables, rows as dicts."""
        with self._connect() as con:
            return self._dicts(con.execute(sql, list(params or [])))

    def frame(self, table: str) -> Any:
        """A table as a polars DataFrame."""
        if table not in TABLES:
            raise StoreError(self.path, f"no table {table!r} (tables: {', '.join(TABLES)})")
        with self._connect() as con:
            return con.sql(f'SELECT * FROM "{table}"').pl()

    def counts(self) -> dict[str, int]:
        with self._connect() as con:
            return {t: int(_one(con.execute(f'SELECT count(*) FROM "{t}"'))[0]) for t in PARQUET_TABLES}

    # ---- parquet
    def export_parquet(self, tables: Iterable[str] | None = None) -> list[Path]:
        """Write `parquet/<table>.parquet` for each table (atomically per file)."""
        self.parquet_dir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        with self._connect() as con:
            for table in tables or PARQUET_TABLES:
                target = self.parquet_dir / f"{table}.parquet"
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                cols = ", ".join(f'"{c}"::VARCHAR AS "{c}"' if t == "JSON" else f'"{c}"' for c, t in TABLES[table])
                con.execute(f"COPY (SELECT {cols} FROM \"{table}\") TO '{_sql_path(tmp)}' (FORMAT parquet)")
                os.replace(tmp, target)
                written.append(target)
        return written


@lru_cache(maxsize=None)
def _arrow_schema(table: str) -> Any:
    import pyarrow as pa

    types = {"VARCHAR": pa.string(), "JSON": pa.string(), "DOUBLE": pa.float64(), "INTEGER": pa.int32(),
             "BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"), "VARCHAR[]": pa.list_(pa.string())}
    return pa.schema([(c, types[t]) for c, t in TABLES[table]])


def _one(cursor: Any) -> Any:
    """The first row (fetching all, so the connection has no unfinished result)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _apply_overrides(result: dict[str, Any], overrides: Mapping[str, Mapping[str, Any]], config: Any) -> None:
    from callqa.pipeline.scoring.competency import apply_override

    for comp in result.get("competencies") or []:
        ov = overrides.get(comp.get("id"))
        if ov is not None:
            apply_override(comp, ov, config)
