"""Rescoring from stored transcripts against the batch (issue 12's acceptance):

1. the batch (`run_batch`: decoding, ASR, diarization, roles, analysis, store, report) on the
   distinct English sample calls (`sample_calls/audio/*`), real ASR: its wall time and wall time
   per call;
2. a store of N >= 200 calls: the sample recordings copied under distinct call ids, their
   transcripts (from step 1's real ASR run) copied under those ids, and the batch run over that
   inbox (it finds each call's transcript by transcript_id and runs the analysis stage only);
   `--full` instead runs the batch with real ASR on all N calls (slow on 2 cores);
3. a script phrase changed, then `callqa rescore` (the CLI, a fresh process) on the N calls: its
   wall time, the ASR calls it made (the counter at the ASR entry points,
   pipeline/speech/transcribe.py: ASR_RUNS), and the ratio to the batch's wall time for N calls;
4. a web.yaml change: what the nightly batch would reprocess and what a rescore recomputes (0).

The batch's wall time for N calls is measured with `--full`; otherwise it is estimated from
step 1 as N x the median wall time per call (model loading excluded: conservative).

    .venv/bin/python benchmarks/rescore.py [--calls 204] [--full] [--config FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUDIO_EXT = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")


def sample_audio(samples: Path) -> list[Path]:
    found = sorted(p for p in samples.iterdir() if p.suffix.lower() in AUDIO_EXT)
    if not found:
        raise SystemExit(f"no sample audio calls in {samples}")
    return found


def copy_call(src: Path, inbox: Path, call_id: str) -> Path:
    dest = inbox / (call_id + src.suffix)
    shutil.copy(src, dest)
    side = src.with_name(src.stem + ".meta.json")
    meta = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
    meta["call_id"] = call_id
    (inbox / f"{call_id}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return dest


def write_config(path: Path, base: Path | None, extra: dict) -> Path:
    import yaml

    from callqa.pipeline.config import deep_merge

    data = yaml.safe_load(base.read_text(encoding="utf-8")) if base else {}
    path.write_text(yaml.safe_dump(deep_merge(data or {}, extra), allow_unicode=True), encoding="utf-8")
    return path


def script_change(config) -> dict:
    """Every English inbound script gets one more greeting phrase (a weekly kind of edit)."""
    stages = [dict(s) for s in config.get("scripts.en.inbound")["stages"]]
    greeting = next(s for s in stages if s["id"] == "greeting")
    greeting["patterns"] = list(greeting["patterns"]) + ["good day to you"]
    return {"scripts": {"en": {"inbound": {"stages": stages}}}}


def asr_runs() -> int:
    from callqa.pipeline.speech import transcribe

    return transcribe.ASR_RUNS


def rescore_cli(store: Path, config: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "callqa.cli", "rescore", "--store", str(store), "--config", str(config), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"callqa rescore failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=204, help="calls in the store (default 204)")
    p.add_argument("--full", action="store_true", help="run the batch with real ASR on all the calls")
    p.add_argument("--config", type=Path, default=ROOT / "sample_calls" / "config.yaml")
    p.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = p.parse_args(argv)
    if args.calls < 1:
        p.error("--calls must be at least 1")

    from callqa.pipeline.batch import discover, identity_for, plan_batch, run_batch
    from callqa.pipeline.config import load_config
    from callqa.pipeline.store.db import Store

    work = args.keep or Path(tempfile.mkdtemp(prefix="callqa-rescore-"))
    work.mkdir(parents=True, exist_ok=True)
    config = load_config(args.config)
    sources = sample_audio(ROOT / "sample_calls" / "audio")
    many, many_store = work / "inbox_many", work / "store_many"
    for d in (many, many_store):
        shutil.rmtree(d, ignore_errors=True)
    many.mkdir()
    replicas = [copy_call(sources[i % len(sources)], many, f"{sources[i % len(sources)].stem}__r{i:03d}")
                for i in range(args.calls)]

    print(f"callqa rescore benchmark: {args.calls} calls from {len(sources)} sample recordings; "
          f"{os.cpu_count()} CPUs; work folder {work}")
    if args.full:
        runs0, t0 = asr_runs(), time.perf_counter()
        batch = run_batch([many], many_store, args.config, report=True)
        batch_wall, batch_asr = time.perf_counter() - t0, asr_runs() - runs0
        assert batch.failed == 0, batch.failures
        per_call = [c.wall_s for c in batch.calls if c.status == "processed"]
        batch_n = batch_wall
        print(f"batch, real ASR, {batch.processed} calls: {batch_wall:.1f} s wall "
              f"({batch_wall / batch.processed:.2f} s per call), ASR calls {batch_asr}")
    else:
        one, one_store = work / "inbox_distinct", work / "store_distinct"
        for d in (one, one_store):
            shutil.rmtree(d, ignore_errors=True)
        one.mkdir()
        for src in sources:
            copy_call(src, one, src.stem)
        runs0, t0 = asr_runs(), time.perf_counter()
        batch = run_batch([one], one_store, args.config, report=True)
        batch_wall, batch_asr = time.perf_counter() - t0, asr_runs() - runs0
        assert batch.failed == 0, batch.failures
        per_call = [c.wall_s for c in batch.calls if c.status == "processed"]
        med = statistics.median(per_call)
        batch_n = med * args.calls
        print(f"batch, real ASR, {batch.processed} distinct calls: {batch_wall:.1f} s wall; per call "
              f"mean {statistics.mean(per_call):.2f} s, median {med:.2f} s (the first call loads the models); "
              f"ASR calls {batch_asr}")
        print(f"batch wall time for {args.calls} calls, estimated as {args.calls} x median: {batch_n:.1f} s")
        # The N calls' transcripts: the real ASR output above, copied under each replica's call id
        # (same audio, same speech settings and metadata: the same transcript_id).
        records = {r["call_id"]: r["record"] for r in Store(one_store).rescore_candidates()}
        store = Store(many_store)
        for item in discover([many]).items:
            ident = identity_for(item, config)
            rec = json.loads(json.dumps(records[item.call_id.rsplit("__r", 1)[0]]))
            assert rec["transcript_id"] == ident.transcript_id, (item.call_id, rec["transcript_id"])
            rec["call_id"] = rec["meta"]["call_id"] = item.call_id
            rec["source"]["path"] = item.path
            store.save_transcript(rec)
        runs0, t0 = asr_runs(), time.perf_counter()
        built = run_batch([many], many_store, args.config, report=False)
        assert built.failed == 0 and asr_runs() == runs0, built.failures
        print(f"store of {built.processed} calls built by the batch from the copied transcripts "
              f"(analysis only, ASR calls 0): {time.perf_counter() - t0:.1f} s")

    changed = write_config(work / "script_change.yaml", args.config, script_change(config))
    rescore_wall, out = rescore_cli(many_store, changed)
    c = out["counts"]
    ratio = rescore_wall / batch_n
    print(f"after a script phrase change, callqa rescore: {rescore_wall:.1f} s wall (in the command: "
          f"{out['wall_s']:.1f} s); rescored {c['rescored']}, unchanged {c['unchanged']}, failed {c['failed']}; "
          f"ASR calls during rescore: {c['asr_runs']}")
    print(f"rescore / batch wall time for {args.calls} calls: {ratio * 100:.2f} % "
          f"(target <= 5 %: {'PASS' if ratio <= 0.05 and c['asr_runs'] == 0 else 'MISS'})")

    web = write_config(work / "web_change.yaml", changed, {"web": {"queue_limit": 7, "default_language": "en"}})
    plan = plan_batch([many], many_store, web)
    _, out_web = rescore_cli(many_store, web)
    print(f"after a web.yaml change: the batch would reprocess {len(plan.todo)} of {plan.discovered} calls; "
          f"rescore recomputed {out_web['counts']['rescored']} (unchanged {out_web['counts']['unchanged']})")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    ok = ratio <= 0.05 and c["asr_runs"] == 0 and c["failed"] == 0 and not plan.todo
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
