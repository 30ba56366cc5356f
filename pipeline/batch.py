"""The nightly batch in plain Python: find the calls in an inbox, decide which are new,
process each one (`compute_call`: what a worker runs; it reads the recording, never the
store), store every result from one process (`RunWriter`), sum up. `flows/nightly.py`
runs `compute_call` as Prefect tasks; `run_batch` runs it in a plain loop (no Prefect
needed); both store through `RunWriter`.

Everything a task receives is small and picklable: a `BatchItem` (call id, path,
hash, manifest metadata, identity, and the stored transcript when only the analysis is
redone) and the config file's path; it returns a `CallWork` (the call result and the
transcript record it was made from, or the failure's kind and reason). Configuration is
loaded once per worker process; models are loaded once per process by their cached loaders.

What is redone is decided per stage (pipeline/identity.py): a call whose stored analysis has
its `analysis_id` is skipped; one whose transcript is stored with its `transcript_id` is
analysed again from that transcript (no decoding, no ASR: `callqa rescore` does the same);
any other call is processed end to end.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from callqa.pipeline.speech.decode import file_sha256
from callqa.pipeline.config import Config, load_config
from callqa.pipeline.errors import CallqaError, InputError
from callqa.pipeline.inputs import (SIDECAR_SUFFIXES, is_audio_file, is_transcript_file, meta_from_mapping,
                                    read_manifest, read_meta_file, sidecar_for, sidecar_stem)
from callqa.pipeline.identity import call_ids
from callqa.pipeline.process import TranscriptRecord, analysis_stage, call_meta, process_call
from callqa.pipeline.store.db import CallIdentity, Store, worker_name
from callqa.pipeline.types import CallMeta, Hook, call_id_for, no_progress

MANIFEST = "manifest.csv"


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class BatchItem:
    """One call found in an inbox. `meta` is its manifest row (sidecars are read by
    `process_call` itself); `identity` is set when the batch is planned, and `transcript` (a
    stored TranscriptRecord, serialized) when only the analysis stage needs running."""

    call_id: str
    path: str
    sha256: str
    meta: Mapping[str, Any] | None = None
    identity: CallIdentity | None = None
    transcript: Mapping[str, Any] | None = None

    def call_meta(self) -> CallMeta | None:
        if not self.meta:
            return None
        data = dict(self.meta)
        if data.get("channel_map") is not None:
            data["channel_map"] = tuple(data["channel_map"])
        return CallMeta(**data)

    def serialize(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "path": self.path, "sha256": self.sha256,
                "meta": None if self.meta is None else dict(self.meta),
                "identity": None if self.identity is None else asdict(self.identity),
                "transcript": None if self.transcript is None else dict(self.transcript)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | BatchItem) -> BatchItem:
        if isinstance(data, BatchItem):
            return data
        ident = data.get("identity")
        return cls(call_id=data["call_id"], path=data["path"], sha256=data["sha256"], meta=data.get("meta"),
                   identity=None if ident is None else CallIdentity(**{k: ident[k] for k in
                                                                     ("call_id", "sha256", "transcript_id",
                                                                      "analysis_id")}),
                   transcript=data.get("transcript"))


@dataclass(frozen=True)
class Problem:
    """A file the batch did not process at all (e.g. a duplicate call id)."""

    path: str
    reason: str
    call_id: str | None = None

    def serialize(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Discovery:
    items: tuple[BatchItem, ...]
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class BatchPlan:
    """What a run will do: `todo` calls to process (those with a stored `transcript` only
    through the analysis stage), `skipped` ones already stored."""

    run_id: str
    inboxes: tuple[str, ...]
    store: str
    config_file: str | None
    config_hash: str
    todo: tuple[BatchItem, ...]
    skipped: tuple[BatchItem, ...]
    problems: tuple[Problem, ...]
    reprocess: bool = False

    @property
    def discovered(self) -> int:
        return len(self.todo) + len(self.skipped)

    @property
    def analysis_only(self) -> int:
        """Calls of `todo` analysed again from their stored transcript (no ASR)."""
        return sum(i.transcript is not None for i in self.todo)


@dataclass(frozen=True)
class CallOutcome:
    """What happened to one call in a run."""

    call_id: str
    path: str
    status: str  # processed | skipped | failed
    reason: str | None = None
    audio_s: float = 0.0
    wall_s: float = 0.0
    language: str | None = None
    operator_id: str | None = None
    flags: tuple[str, ...] = ()
    nominations: int = 0
    worker: str | None = None

    def serialize(self) -> dict[str, Any]:
        d = asdict(self)
        d["flags"] = list(self.flags)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | CallOutcome) -> CallOutcome:
        if isinstance(data, CallOutcome):
            return data
        return cls(**{**data, "flags": tuple(data.get("flags") or ())})


@dataclass(frozen=True)
class BatchSummary:
    """The end of a run: counts, the calls, and where the report is."""

    run_id: str
    store: str
    inboxes: tuple[str, ...]
    started_at: str
    finished_at: str
    wall_s: float
    discovered: int
    processed: int
    skipped: int
    failed: int
    flagged: int
    nominated: int
    audio_s: float
    workers: int
    report: str | None = None
    calls: tuple[CallOutcome, ...] = ()
    problems: tuple[Problem, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def audio_s_per_wall_s(self) -> float | None:
        return None if self.wall_s <= 0 else self.audio_s / self.wall_s

    @property
    def failures(self) -> list[dict[str, Any]]:
        out = [{"call_id": c.call_id, "path": c.path, "reason": c.reason} for c in self.calls if c.status == "failed"]
        out += [{"call_id": p.call_id, "path": p.path, "reason": p.reason} for p in self.problems]
        return out

    def counts(self) -> dict[str, int]:
        return {"processed": self.processed, "skipped": self.skipped, "failed": self.failed,
                "flagged": self.flagged, "nominated": self.nominated}

    def serialize(self) -> dict[str, Any]:
        d = asdict(self)
        d["inboxes"] = list(self.inboxes)
        d["calls"] = [c.serialize() for c in self.calls]
        d["problems"] = [p.serialize() for p in self.problems]
        d["audio_s_per_wall_s"] = None if self.audio_s_per_wall_s is None else round(self.audio_s_per_wall_s, 3)
        d["failures"] = self.failures
        d["extra"] = dict(self.extra)
        return d


# --------------------------------------------------------------------------- config and identity

@lru_cache(maxsize=8)
def _config_cached(config_file: str | None, mtime_ns: int) -> Config:
    return load_config(config_file)


def batch_config(config_file: str | Path | None) -> Config:
    """The configuration, loaded once per process (reloaded when the file changes)."""
    if config_file is None:
        return _config_cached(None, 0)
    p = Path(config_file)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        mtime = -1  # load_config reports the missing file
    return _config_cached(str(p), mtime)


def item_meta(item: BatchItem) -> CallMeta:
    """The metadata `process_call` will use for an item (transcript JSON, sidecar, manifest
    row); the manifest row alone when a file cannot be read (processing then names the problem)."""
    try:
        return call_meta(Path(item.path), item.call_meta())
    except InputError:
        return item.call_meta() or CallMeta()


def identity_for(item: BatchItem, config: Config) -> CallIdentity:
    """The call's identity under `config`: per stage, from pipeline/identity.py (the one definition)."""
    ids = call_ids(item.sha256, config, item_meta(item))
    return CallIdentity(item.call_id, item.sha256, ids["transcript_id"], ids["analysis_id"])


# --------------------------------------------------------------------------- discovery

def _manifest_meta(manifest: Mapping[str, CallMeta], inbox: Path, path: Path) -> CallMeta | None:
    rel = path.relative_to(inbox).as_posix()
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    for key in (rel, path.name, stem):
        if key in manifest:
            return manifest[key]
    return None


def _transcript_meta(path: Path) -> CallMeta:
    """Metadata inside a transcript JSON; empty when the file cannot be read (the call
    will then fail with the precise reason when it is processed)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
        if isinstance(data, dict):
            return meta_from_mapping({"call_id": data.get("call_id")}, path)
    except (OSError, ValueError, InputError):
        pass
    return CallMeta()


def call_id_of(path: Path, manifest_meta: CallMeta | None) -> str:
    """The call id `process_call` will give this file (metadata first, else file name)."""
    side = sidecar_for(path)
    try:
        meta = read_meta_file(side) if side else CallMeta()
    except InputError:
        meta = CallMeta()
    meta = meta.merged(manifest_meta)
    if is_transcript_file(path):
        meta = _transcript_meta(path).merged(meta)
    return call_id_for(path, meta)


def is_call_file(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or not path.is_file():
        return False
    if name.endswith((".truth.json",) + SIDECAR_SUFFIXES):
        return False
    return is_audio_file(path) or is_transcript_file(path)


def discover(inboxes: Sequence[str | Path], *, recursive: bool = False) -> Discovery:
    """Recordings and transcript JSON files in the inboxes, with manifest rows.

    A missing inbox or an unreadable `manifest.csv` raises `InputError` (nothing is
    processed without the metadata it promises); a duplicate call id is a `Problem`.
    """
    items: list[BatchItem] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for raw in inboxes:
        inbox = Path(raw).expanduser().resolve()  # absolute: tasks may run on other machines
        if not inbox.is_dir():
            raise InputError(inbox, "inbox is not a directory")
        mpath = inbox / MANIFEST
        manifest = read_manifest(mpath) if mpath.is_file() else {}
        used: set[str] = set()
        candidates = sorted(inbox.rglob("*") if recursive else inbox.iterdir())
        calls = [p for p in candidates if is_call_file(p)]
        # A sidecar whose recording is not there (a typo in its name) would lose its metadata silently.
        sides = {sidecar_for(p) for p in calls}
        for side in candidates:
            if side.name.endswith(SIDECAR_SUFFIXES) and not side.name.startswith(".") and side not in sides:
                problems.append(Problem(str(side), "metadata sidecar matches no recording in the inbox "
                                                   f"(expected a recording named {sidecar_stem(side.name)}.<ext>)"))
        for path in calls:
            mmeta = _manifest_meta(manifest, inbox, path)
            if mmeta is not None:
                used.update(k for k, v in manifest.items() if v is mmeta)
            cid = call_id_of(path, mmeta)
            if cid in seen:
                problems.append(Problem(str(path), f"duplicate call id {cid!r}: also in {seen[cid]}", cid))
                continue
            try:
                digest = file_sha256(path)
            except OSError as e:
                problems.append(Problem(str(path), f"cannot read: {e.strerror or e}", cid))
                continue
            seen[cid] = str(path)
            items.append(BatchItem(cid, str(path), digest, None if mmeta is None else mmeta.serialize()))
        for key in sorted(set(manifest) - used):
            problems.append(Problem(str(mpath), f"manifest row {key!r} matches no file in the inbox"))
    return Discovery(tuple(items), tuple(problems))


# --------------------------------------------------------------------------- plan / process / finish

def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def plan_batch(inboxes: Sequence[str | Path], store: Store | str | Path, config_file: str | Path | None = None, *,
               reprocess: bool = False, run_id: str | None = None, recursive: bool = False) -> BatchPlan:
    """Discover calls and split them into those to process and those already stored
    with the same identity (all are redone with `reprocess`)."""
    from callqa.pipeline.scoring.categories import config_with_saved

    store = store if isinstance(store, Store) else Store(store)
    # Categories an admin saved in the web app are part of the analysis identity: adding or
    # deleting one makes the next run redo the analysis of every call (not the transcript).
    config = config_with_saved(batch_config(config_file), store)
    found = discover(inboxes, recursive=recursive)
    done = set() if reprocess else store.done_identities()
    todo: list[BatchItem] = []
    skipped: list[BatchItem] = []
    for item in found.items:
        item = replace(item, identity=identity_for(item, config))
        (skipped if item.identity.key in done else todo).append(item)
    if not reprocess:  # a stored transcript with the call's transcript_id: only the analysis is redone
        stored = store.stored_transcripts((i.call_id, i.identity.transcript_id) for i in todo if i.identity)
        todo = [replace(i, transcript=stored.get((i.call_id, i.identity.transcript_id))) if i.identity else i
                for i in todo]
    return BatchPlan(run_id=run_id or new_run_id(), inboxes=tuple(str(Path(i).expanduser().resolve()) for i in inboxes),
                     store=str(store.path), config_file=None if config_file is None else str(config_file),
                     config_hash=config.hash, todo=tuple(todo), skipped=tuple(skipped),
                     problems=found.problems, reprocess=reprocess)


def open_run(plan: BatchPlan, workers: int = 1) -> None:
    """Record the run as started and list files that will not be processed."""
    store = Store(plan.store)
    store.start_run(plan.run_id, inbox=", ".join(plan.inboxes), config_hash=plan.config_hash, workers=workers,
                    planned=len(plan.todo), discovered=plan.discovered)
    for p in plan.problems:
        store.add_quarantine(p.path, p.reason, call_id=p.call_id, run_id=plan.run_id)


def _quarantine_move(path: Path, target_dir: Path) -> Path | None:
    """Move a bad file (and its sidecar) out of the inbox; None when it cannot be moved."""
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        side = sidecar_for(path)
        dest = target_dir / path.name
        shutil.move(str(path), dest)
        if side is not None:
            shutil.move(str(side), target_dir / side.name)
        return dest
    except OSError:
        return None


@dataclass(frozen=True)
class CallWork:
    """One call as a worker computed it, for the run's single writer: the call result,
    or why there is none (`kind`: input / setup / unexpected) and where a bad file was
    moved. Small and picklable; it never names the store."""

    item: BatchItem
    identity: CallIdentity
    status: str  # processed | failed
    result: Mapping[str, Any] | None = None
    reason: str | None = None
    kind: str | None = None
    moved_to: str | None = None
    wall_s: float = 0.0
    worker: str | None = None
    transcript: Mapping[str, Any] | None = None  # the new transcript record (None: the stored one was reused)

    def serialize(self) -> dict[str, Any]:
        return {"item": self.item.serialize(), "identity": asdict(self.identity), "status": self.status,
                "result": None if self.result is None else dict(self.result),
                "transcript": None if self.transcript is None else dict(self.transcript), "reason": self.reason,
                "kind": self.kind, "moved_to": self.moved_to, "wall_s": self.wall_s, "worker": self.worker}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | CallWork) -> CallWork:
        if isinstance(data, CallWork):
            return data
        return cls(**{**data, "item": BatchItem.from_dict(data["item"]), "identity": CallIdentity(**data["identity"])})


def compute_call(item: BatchItem | Mapping[str, Any], *, config_file: str | Path | None,
                 quarantine_dir: str | Path | None = None, record_unexpected: bool = True,
                 hook: Hook = no_progress) -> CallWork:
    """Process one call with `process_call` (or, for an item with a stored transcript, only
    `analysis_stage`); what a worker runs. It reads the recording (and moves a bad one to
    `quarantine_dir`), never the store: `RunWriter` stores the work.

    Bad input (`InputError`) is failed work of kind `input` (not retried until the file
    changes); a set-up problem (another `CallqaError`, e.g. a model not installed) of kind
    `setup` (tried again next run). Unexpected errors are failed work of kind `unexpected`
    when `record_unexpected`, else re-raised so the caller can retry.
    """
    item = BatchItem.from_dict(item)
    t0 = time.perf_counter()

    def failed(identity: CallIdentity, reason: str, kind: str) -> CallWork:
        moved = None
        if quarantine_dir is not None and kind == "input":
            moved = _quarantine_move(Path(item.path), Path(quarantine_dir))
        return CallWork(item, identity, "failed", None, reason, kind, None if moved is None else str(moved),
                        time.perf_counter() - t0, worker_name())

    try:
        config = batch_config(config_file)
    except CallqaError as e:  # e.g. the config file was changed into an invalid one mid-run
        return failed(item.identity or CallIdentity(item.call_id, item.sha256, "", ""), str(e), "setup")
    identity = item.identity or identity_for(item, config)
    path = Path(item.path)
    try:
        if item.transcript is not None:  # the transcript stage's identity is unchanged: analysis only
            result = analysis_stage(TranscriptRecord.from_dict(dict(item.transcript)), config, meta=item_meta(item),
                                    hook=hook)
        else:
            result = process_call(path, config, meta=item.call_meta(), hook=hook)
    except InputError as e:  # the file's fault: not retried until it changes
        # A problem in another file (the call's .meta.json sidecar) names that file.
        reason = e.problem if Path(e.path).resolve() == path.resolve() else f"{Path(e.path).name}: {e.problem}"
        return failed(identity, reason, "input")
    except CallqaError as e:  # set-up (a model not installed...): retrying now won't help; the next run will
        return failed(identity, str(e), "setup")
    except Exception as e:
        if not record_unexpected:
            raise
        return failed(identity, f"{type(e).__name__}: {e}", "unexpected")
    data = result.serialize()
    sha = (data.get("source") or {}).get("sha256") or item.sha256
    tid = data.get("transcript_id") or identity.transcript_id
    # The plan's analysis id also covers the categories saved in the store (merged by the writer).
    aid = (identity.analysis_id if item.identity is not None and item.identity.transcript_id == tid
           and identity.analysis_id else data.get("analysis_id") or identity.analysis_id)
    identity = CallIdentity(data["call_id"], sha, tid, aid)
    record = getattr(result, "transcript_record", None)
    return CallWork(item, identity, "processed", data, wall_s=time.perf_counter() - t0, worker=worker_name(),
                    transcript=None if record is None else record.serialize())


class RunWriter:
    """The one writer of a run: stores each call's work as it arrives (each call in one
    transaction), so workers never open the store. Idempotent: work for a call and
    identity already written in this run is not written again (same outcome back)."""

    def __init__(self, plan: BatchPlan, store: Store | None = None):
        self.plan = plan
        self.store = store if store is not None else Store(plan.store)
        self._written: dict[tuple[str, str], CallOutcome] = {}
        self.outcomes: list[CallOutcome] = []
        self._saved_categories: dict[str, Any] | None = None  # read from the store once per run

    def _with_saved_categories(self, data: Mapping[str, Any], identity: CallIdentity) -> Mapping[str, Any]:
        """Categories an admin saved in the web app (the store's), evaluated on the result before
        it is stored (workers never open the store; pipeline/scoring/categories.py)."""
        from callqa.pipeline.scoring.categories import apply_saved, saved_section

        config = batch_config(self.plan.config_file)
        if self._saved_categories is None:
            self._saved_categories = saved_section(self.store, config)
        if not self._saved_categories:
            return data
        return apply_saved(data, self._saved_categories, config, analysis_id=identity.analysis_id or None)

    def write(self, work: CallWork | Mapping[str, Any]) -> CallOutcome:
        work = CallWork.from_dict(work)
        key = (work.item.call_id, work.identity.key)
        if key in self._written:
            return self._written[key]
        item, run_id = work.item, self.plan.run_id
        if work.status == "processed" and work.result is not None:
            data = self._with_saved_categories(work.result, work.identity)
            self.store.save(data, identity=work.identity, run_id=run_id, wall_s=work.wall_s, worker=work.worker,
                            transcript=work.transcript)
            outcome = CallOutcome(data["call_id"], item.path, "processed", None, float(data.get("duration_s") or 0.0),
                                  work.wall_s, data.get("language"), data.get("operator_id"),
                                  tuple(str(f.get("id")) for f in data.get("flags") or []),
                                  len(data.get("nominations") or []), work.worker)
        else:
            reason = work.reason or "no result"
            self.store.save_error(item.call_id, item.path, reason, identity=work.identity,
                                  kind=work.kind or "unexpected", run_id=run_id, moved_to=work.moved_to,
                                  wall_s=work.wall_s, worker=work.worker)
            outcome = CallOutcome(item.call_id, item.path, "failed", reason, 0.0, work.wall_s,
                                  flags=("processing_error",), worker=work.worker)
        self._written[key] = outcome
        self.outcomes.append(outcome)
        return outcome

    def crash(self, item: BatchItem | Mapping[str, Any], error: BaseException | str) -> CallOutcome:
        """A call whose worker failed outside `compute_call` (e.g. a worker that died every
        time it ran the call): stored as an unexpected processing error, so the next run
        tries it again."""
        item = BatchItem.from_dict(item)
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        identity = item.identity or CallIdentity(item.call_id, item.sha256, "", "")
        return self.write(CallWork(item, identity, "failed", reason=reason, kind="unexpected"))


def process_and_store(item: BatchItem | Mapping[str, Any], writer: RunWriter, *,
                      config_file: str | Path | None, quarantine_dir: str | Path | None = None,
                      hook: Hook = no_progress) -> CallOutcome:
    """One call in this process: `compute_call`, then `writer` stores it."""
    return writer.write(compute_call(item, config_file=config_file, quarantine_dir=quarantine_dir, hook=hook))


def finish_batch(plan: BatchPlan, outcomes: Iterable[CallOutcome | Mapping[str, Any]], *, started: float,
                 started_at: str, workers: int = 1, report: bool = True,
                 extra: Mapping[str, Any] | None = None) -> BatchSummary:
    """Sum a run up, refresh the Parquet tables and write the nightly HTML report."""
    store = Store(plan.store)
    done = [CallOutcome.from_dict(o) for o in outcomes]
    skipped = [CallOutcome(i.call_id, i.path, "skipped", "already in the store") for i in plan.skipped]
    calls = tuple(done) + tuple(skipped)
    processed = [c for c in done if c.status == "processed"]
    summary = BatchSummary(
        run_id=plan.run_id, store=plan.store, inboxes=plan.inboxes, started_at=started_at,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        wall_s=round(time.perf_counter() - started, 3), discovered=plan.discovered + len(plan.problems),
        processed=len(processed), skipped=len(skipped) + sum(c.status == "skipped" for c in done),
        failed=sum(c.status == "failed" for c in done) + len(plan.problems),
        flagged=sum(bool(c.flags) for c in processed), nominated=sum(c.nominations > 0 for c in processed),
        audio_s=round(sum(c.audio_s for c in processed), 3), workers=workers, calls=calls,
        problems=plan.problems, extra=dict(extra or {}))
    report_path = None
    if report:
        from callqa.pipeline.people.nightly_report import write_nightly_report

        report_path = str(write_nightly_report(store, summary, batch_config(plan.config_file)))
        summary = replace(summary, report=report_path)
    from callqa.pipeline.qa.alerts import run_alerts  # one digest per run; never raises (a failure is recorded here)

    summary = replace(summary, extra={**summary.extra, "alerts": run_alerts(store, summary, plan.config_file)})
    store.finish_run(plan.run_id, summary.serialize(), report_path)
    store.export_parquet()
    return summary


def run_batch(inboxes: Sequence[str | Path], store: str | Path, config_file: str | Path | None = None, *,
              reprocess: bool = False, wait: bool | float = False, quarantine_dir: str | Path | None = None,
              report: bool = True, run_id: str | None = None,
              on_call: Callable[[CallOutcome], None] | None = None) -> BatchSummary:
    """The whole batch in one process, without Prefect (same records as the flow)."""
    started, started_at = time.perf_counter(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    db = Store(store)
    with db.lock(wait=wait, owner="run_batch"):
        plan = plan_batch(inboxes, db, config_file, reprocess=reprocess, run_id=run_id)
        open_run(plan, workers=1)
        writer = RunWriter(plan, db)
        for item in plan.todo:
            outcome = process_and_store(item, writer, config_file=config_file, quarantine_dir=quarantine_dir)
            if on_call is not None:
                on_call(outcome)
        return finish_batch(plan, writer.outcomes, started=started, started_at=started_at, workers=1,
                            report=report)
