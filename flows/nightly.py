"""The nightly batch as a Prefect flow: one task per call, each calling the same
`process_call` the CLI uses (through `callqa.pipeline.batch.compute_call`).

Thin on purpose: discovery, identity, storage and the report are library functions;
this module adds retries, a concurrency limit (the task runner's workers), logs and
artifacts. Tasks receive ids and paths, never audio, models or the store; they return
each call's result, and the flow (one process) writes it into the store as it arrives,
so Dask workers on other machines need the recordings only.

    from callqa.flows.nightly import nightly_batch
    nightly_batch(inbox="/data/inbox", store="/data/store")                     # one worker, in-process
    nightly_batch(inbox="/data/inbox", store="/data/store", workers=4)          # local Dask cluster, 4 processes
    nightly_batch(inbox=..., store=..., dask_address="tcp://scheduler:8786")    # an existing Dask cluster
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import task_run
from prefect.task_runners import ThreadPoolTaskRunner

from callqa.pipeline import batch
from callqa.pipeline.qa.alerts import describe as describe_alerts
from callqa.pipeline.search import index as search_index
from callqa.pipeline.search.topics import refresh_topics

TASK_RETRIES = 2
TASK_RETRY_DELAYS_S = [2, 10]
# Imported once by the fork server that local Dask workers are forked from, instead of
# by every spawned worker (seconds each, and their pages are shared). Missing ones are skipped.
WORKER_PRELOAD = ("prefect", "callqa.flows.nightly", "callqa.pipeline.process", "callqa.pipeline.speech.decode",
                  "callqa.pipeline.speech.transcribe", "callqa.pipeline.speech.diarize", "callqa.pipeline.signals",
                  "callqa.pipeline.scoring.score", "callqa.pipeline.speech.asr", "callqa.pipeline.speech.diarize_models",
                  "callqa.pipeline.signals.sentiment", "callqa.pipeline.signals.nlp", "spacy", "faster_whisper", "resemblyzer")


def task_runner_for(workers: int = 1, dask_address: str | None = None) -> Any:
    """In-process threads for one worker; a Dask cluster (local processes or an existing
    scheduler) for more. One thread per Dask worker process: models are loaded once
    per process and CPU-bound calls scale with processes, not threads."""
    if dask_address or workers > 1:
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": ":0"})
    return ThreadPoolTaskRunner(max_workers=max(1, workers))


def worker_environment(workers: int) -> dict[str, str]:
    """Environment of local Dask workers: the machine's cores split between them. It
    replaces Dask's default, whose aggressive `MALLOC_TRIM_THRESHOLD_` makes the
    speech models ~40 % slower."""
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}


@contextlib.contextmanager
def running(runner: Any, workers: int = 1) -> Iterator[Any]:
    """Enter a task runner. A local Dask cluster's workers fork from a server that has
    imported callqa once, with `worker_environment` (read when the fork server starts,
    i.e. by the first local cluster of this process)."""
    if type(runner).__name__ != "DaskTaskRunner" or getattr(runner, "address", None):
        with runner as entered:
            yield entered
        return
    import dask
    from distributed.utils import get_mp_context

    env = worker_environment(workers)
    saved = {k: os.environ.get(k) for k in env}
    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver",
                          "distributed.nanny.pre-spawn-environ": env}):
        get_mp_context().set_forkserver_preload(["distributed", *WORKER_PRELOAD])
        with runner as entered:
            for k, v in saved.items():  # Dask's nanny set them in this process too
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            yield entered


@task(name="process-call", task_run_name="call-{item[call_id]}", retries=TASK_RETRIES,
      retry_delay_seconds=TASK_RETRY_DELAYS_S, cache_policy=NO_CACHE)
def process_call_task(item: dict[str, Any], config_file: str | None,
                      quarantine_dir: str | None = None) -> dict[str, Any]:
    """One call, computed on a worker: its result or its failure (`batch.CallWork`),
    returned to the flow, which stores it. No store here: a worker needs the recordings
    only. Bad input is returned, not raised; an unexpected error is retried, and
    returned as a failure of kind `unexpected` on the last attempt."""
    logger = get_run_logger()

    def hook(step: str, completed: int | None = None, total: int | None = None) -> None:
        logger.debug("%s: %s%s", item["call_id"], step, f" {completed}/{total}" if total else "")

    last_attempt = task_run.run_count > TASK_RETRIES
    work = batch.compute_call(item, config_file=config_file, quarantine_dir=quarantine_dir,
                              record_unexpected=last_attempt, hook=hook)
    if work.status == "failed":
        logger.warning("%s failed: %s", item["call_id"], work.reason)
    return work.serialize()


def store_as_completed(runner: Any, plan: batch.BatchPlan, writer: batch.RunWriter, config: str | None,
                       quarantine_dir: str | None) -> None:
    """Submit every call of the plan and store each result as it arrives, in this one
    process. A worker that dies mid-call has its call run again elsewhere (Dask); a call
    that never comes back (it killed every worker it ran on) is stored as failed with
    the reason. What was stored before a crash stays stored."""
    logger = get_run_logger()
    futures = {runner.submit(process_call_task, parameters={
        "item": item.serialize(), "config_file": config, "quarantine_dir": quarantine_dir}, wait_for=None): item
        for item in plan.todo}
    for fut in as_completed(list(futures)):
        item = futures[fut]
        try:
            work = fut.result()
        except Exception as e:  # the worker itself died, beyond Dask's and the task's retries
            logger.error("%s: worker failed: %s", item.call_id, e)
            writer.crash(item, f"the worker running this call failed: {type(e).__name__}: {e}")
            continue
        writer.write(work)


def _markdown(summary: batch.BatchSummary) -> str:
    c = summary.counts()
    lines = [f"# callqa nightly batch {summary.run_id}", "",
             "| processed | skipped | failed | flagged | nominated | audio | wall |",
             "|---:|---:|---:|---:|---:|---:|---:|",
             f"| {c['processed']} | {c['skipped']} | {c['failed']} | {c['flagged']} | {c['nominated']} "
             f"| {summary.audio_s:.0f} s | {summary.wall_s:.0f} s |", ""]
    if summary.report:
        lines.append(f"Report: `{summary.report}`")
    for f in summary.failures:
        lines.append(f"- failed `{f['path']}`: {f['reason']}")
    alerts = describe_alerts(summary.extra.get("alerts"))
    if alerts:
        lines.append(f"\n{alerts}")
    return "\n".join(lines)


@flow(name="callqa-nightly")
def nightly_batch(inbox: str | list[str], store: str = "data/store", config: str | None = None,
                  reprocess: bool = False, workers: int = 1, dask_address: str | None = None,
                  quarantine_dir: str | None = None, wait_for_lock: bool = False, report: bool = True,
                  run_id: str | None = None) -> dict[str, Any]:
    """Process every new call in `inbox` (a folder or a list of folders; with
    `manifest.csv` rows or `*.meta.json` sidecars) into `store`, and write the
    nightly report. Calls already stored with the same identity are skipped unless
    `reprocess`. Returns the run's summary."""
    logger = get_run_logger()
    inboxes = [inbox] if isinstance(inbox, str) else list(inbox)
    # absolute paths: tasks may run in other processes or on other machines
    config = None if config is None else str(Path(config).expanduser().resolve())
    quarantine_dir = None if quarantine_dir is None else str(Path(quarantine_dir).expanduser().resolve())
    started, started_at = time.perf_counter(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    db = batch.Store(Path(store).expanduser().resolve())
    with db.lock(wait=wait_for_lock, owner="nightly flow"):
        plan = batch.plan_batch(inboxes, db, config, reprocess=reprocess, run_id=run_id)
        logger.info("run %s: %d calls to process, %d already stored, %d problem files",
                    plan.run_id, len(plan.todo), len(plan.skipped), len(plan.problems))
        batch.open_run(plan, workers=workers)
        writer = batch.RunWriter(plan, db)
        if plan.todo:
            # chosen per run, so a deployment's parameters can pick it
            with running(task_runner_for(workers, dask_address), workers) as runner:
                store_as_completed(runner, plan, writer, config, quarantine_dir)
        summary = batch.finish_batch(plan, writer.outcomes, started=started, started_at=started_at,
                                     workers=workers, report=report)
    logger.info(search_index.refresh(db.path, config))  # the search index (STORE/search) follows the store
    logger.info(refresh_topics(db.path))  # call reasons (STORE/topics.json) for the trends page
    create_markdown_artifact(_markdown(summary), key="callqa-nightly-summary",
                             description=f"callqa nightly batch {summary.run_id}")
    rows = [{k: v for k, v in c.serialize().items() if k in ("call_id", "status", "reason", "audio_s", "flags")}
            for c in summary.calls]
    if rows:
        create_table_artifact(rows, key="callqa-nightly-calls", description="calls of the last nightly batch")
    logger.info("run %s done: %s; report %s", summary.run_id, summary.counts(), summary.report)
    alerts = summary.extra.get("alerts") or {}
    line = describe_alerts(alerts)
    if line:  # a digest that was not sent is a warning, never a failed flow
        unsent = alerts.get("status") in ("failed", "partly_sent", "error")
        logger.warning(line) if unsent else logger.info(line)
    return summary.serialize()
