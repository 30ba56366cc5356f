"""Rescoring from stored transcripts (`callqa rescore`): the analysis stage of
pipeline/process.py run again on the transcripts the store holds, under the configuration
now. No decoding, no ASR: a script phrase, a threshold or a weight changed for a month of
calls costs the analysis only.

A call whose `analysis_id` under the configuration is the one stored is unchanged (not
recomputed unless `force`). A new analysis replaces the current one; the earlier one stays
in the store by its `analysis_id` with the reviews made on it (Store.analysis). A call whose
stored transcript cannot be read, or whose analysis fails, is named in `failed` and the
others go on. Calls analysed before store version 4 have no stored transcript: the next
batch transcribes them once more (`missing`). A stored transcript made under other speech
settings than the configuration's is still analysed (it is what the store has) and counted
in `outdated` (the next batch re-transcribes those calls).

`rescore_store` is the one entry point (the CLI and the benchmark call it); it returns the
call ids it rescored, for hooks that follow a rescore (e.g. the search index).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from callqa.pipeline.identity import analysis_id_for, transcript_id
from callqa.pipeline.store.db import CallIdentity, Store

ANALYSIS_META_COLUMNS = ("team", "role", "scenario", "operator_id", "started_at")
SAVE_EVERY = 25  # rescored calls written through one store connection


@dataclass
class RescoreSummary:
    """What a rescore did: call ids per outcome, failures with their reason, ASR runs (0)."""

    run_id: str
    rescored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)  # {call_id, reason}
    missing: list[str] = field(default_factory=list)  # no stored transcript
    outdated: list[str] = field(default_factory=list)  # stored transcript from other speech settings
    asr_runs: int = 0
    wall_s: float = 0.0

    def counts(self) -> dict[str, int]:
        return {"rescored": len(self.rescored), "unchanged": len(self.unchanged), "failed": len(self.failed),
                "missing_transcript": len(self.missing), "outdated_transcript": len(self.outdated),
                "asr_runs": self.asr_runs}

    def serialize(self) -> dict[str, Any]:
        return {**asdict(self), "counts": self.counts(), "wall_s": round(self.wall_s, 3)}


def _asr_runs() -> int:
    from callqa.pipeline.speech import transcribe

    return transcribe.ASR_RUNS


def rescore_store(store: Store | str | Path, config_file: str | Path | None = None, *,
                  since: str | None = None, call_ids: Sequence[str] | None = None, force: bool = False,
                  wait: bool | float = False, on_call: Callable[[str, str], None] | None = None) -> RescoreSummary:
    """Analyse the stored calls again from their stored transcripts under `config_file` (the
    defaults when None): all of them, those in `call_ids`, or those started (else processed)
    on or after `since` (an ISO date). Holds the store's run lock (a batch and a rescore never
    interleave; `wait` as for the batch). `on_call(call_id, outcome)` after each call."""
    from callqa.pipeline.batch import batch_config, new_run_id
    from callqa.pipeline.process import TranscriptRecord, analysis_stage
    from callqa.pipeline.scoring.categories import apply_saved, config_with_saved, saved_section, stale_saved

    t0 = time.perf_counter()
    asr_before = _asr_runs()
    db = store if isinstance(store, Store) else Store(store)
    config = batch_config(config_file)  # invalid configuration fails here, before any call
    summary = RescoreSummary(run_id="rescore-" + new_run_id())
    note = on_call or (lambda cid, outcome: None)
    with db.lock(wait=wait, owner="rescore"):
        saved = saved_section(db, config)
        with_saved = config_with_saved(config, db, saved)  # saved categories are part of the analysis identity
        saved_changed = stale_saved(db, saved)  # categories saved in the web app since the call's analysis
        rows = db.rescore_candidates(call_ids=call_ids, since=since)
        pending: list[dict[str, Any]] = []

        def flush() -> None:  # one store connection for several calls, each in its own transaction
            db.save_many(pending, run_id=summary.run_id, outcome="rescored")
            for p in pending:
                summary.rescored.append(p["result"]["call_id"])
                note(p["result"]["call_id"], "rescored")
            pending.clear()
        if call_ids is not None:
            found = {r["call_id"] for r in rows}
            for cid in call_ids:
                if cid not in found:
                    summary.failed.append({"call_id": cid, "reason": "no analysed call with this id in the store"})
                    note(cid, "failed")
        for row in rows:
            cid = row["call_id"]
            if row["record"] is None:
                summary.missing.append(cid)
                note(cid, "missing")
                continue
            try:
                record = TranscriptRecord.from_dict(row["record"])
                meta = replace(record.meta, **{k: row[k] for k in ANALYSIS_META_COLUMNS})
                aid = analysis_id_for(record.transcript_id, with_saved, meta)
                if transcript_id(record.source.sha256, config, record.meta) != record.transcript_id:
                    summary.outdated.append(cid)
                if aid == row["analysis_id"] and not force and cid not in saved_changed:
                    summary.unchanged.append(cid)
                    note(cid, "unchanged")
                    continue
                t1 = time.perf_counter()
                data = analysis_stage(record, config, meta=meta).serialize()
                data = apply_saved(data, saved, config, analysis_id=aid) if saved else data
                ident = CallIdentity(cid, record.source.sha256, record.transcript_id, aid)
                pending.append({"result": data, "identity": ident, "wall_s": time.perf_counter() - t1})
            except Exception as e:  # one bad call never stops the rest; it is named with its reason
                summary.failed.append({"call_id": cid, "reason": f"{type(e).__name__}: {e}"
                                       if not isinstance(e, ValueError) else str(e)})
                note(cid, "failed")
                continue
            if len(pending) >= SAVE_EVERY:
                flush()
        flush()
        if summary.rescored:
            db.export_parquet()
    summary.asr_runs = _asr_runs() - asr_before
    summary.wall_s = time.perf_counter() - t0
    return summary
