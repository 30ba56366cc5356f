"""Batch throughput: audio seconds per wall second over the same calls for

1. a plain Python loop over `process_call` (models already loaded),
2. the nightly Prefect flow with 1 worker (in-process, with store writes and the report),
3. the nightly Prefect flow with N workers (a local Dask cluster; N = 2 by default),

and the ratios. Targets (issue 5): the flow with 1 worker takes ≤ 1.10 × the plain
loop's wall time; 2 workers are ≥ 1.6 × faster than 1 on 2 cores.

The inbox is built in a temporary folder by replicating the English sample calls
(`sample_calls/audio/*` with their sidecars) under distinct call ids. A temporary
Prefect server is started before timing (a long-running server is the normal
set-up); a Dask run's time includes starting its cluster and loading models in each
worker, as a nightly run does.

    .venv/bin/python benchmarks/batch_throughput.py [--calls 20] [--workers 2] [--seconds S] [--config FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUDIO_EXT = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


def build_inbox(samples: Path, inbox: Path, n: int, seconds: float | None) -> list[Path]:
    """`n` calls replicated round-robin from the sample audio calls, each with its own
    call id (and optionally cut to its first `seconds`)."""
    sources = sorted(p for p in samples.iterdir() if p.suffix.lower() in AUDIO_EXT)
    if not sources:
        raise SystemExit(f"no sample audio calls in {samples} (run sample_calls/synthesize.py)")
    inbox.mkdir(parents=True)
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        stem = f"{src.stem}__r{i:02d}"
        dest = inbox / (stem + (".wav" if seconds else src.suffix))
        if seconds:
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", str(seconds), str(dest)], check=True)
        else:
            shutil.copy(src, dest)
        side = src.with_name(src.stem + ".meta.json")
        meta = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
        meta["call_id"] = stem
        (inbox / f"{stem}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
        out.append(dest)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=20, help="number of calls (default 20)")
    p.add_argument("--workers", type=int, default=2, help="workers of the scaled-out run (default 2)")
    p.add_argument("--seconds", type=float, help="cut every call to its first SECONDS (default: whole calls)")
    p.add_argument("--samples", type=Path, default=ROOT / "sample_calls" / "audio", help="sample audio folder")
    p.add_argument("--config", help="customer YAML deep-merged over configs/")
    p.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="callqa-bench-"))
    for key, value in {"PREFECT_HOME": str(tmp / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "DO_NOT_TRACK": "1", "PYANNOTE_METRICS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
                       "PREFECT_LOGGING_LEVEL": "WARNING"}.items():
        os.environ.setdefault(key, value)
    try:
        return run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> int:
    from callqa.pipeline.config import load_config
    from callqa.pipeline.process import process_call

    files = build_inbox(args.samples, tmp / "inbox", args.calls, args.seconds)
    config = load_config(args.config)
    print(f"{len(files)} calls from {args.samples}{f', cut to {args.seconds:g} s' if args.seconds else ''}; "
          f"{os.cpu_count()} CPU cores; ASR {config.section('models').asr.model}", flush=True)

    process_call(files[0], config)  # load the models once, untimed (the flow's process reuses them)
    t0 = time.perf_counter()
    audio_s = sum(process_call(f, config).duration_s for f in files)
    plain_wall = time.perf_counter() - t0
    print(f"plain loop done in {plain_wall:.1f} s", flush=True)

    from prefect.testing.utilities import prefect_test_harness

    from callqa.flows.nightly import nightly_batch

    results: dict[str, dict] = {}
    with prefect_test_harness(server_startup_timeout=180):
        (tmp / "empty").mkdir()
        nightly_batch(inbox=str(tmp / "empty"), store=str(tmp / "warm-store"), report=False)  # untimed warm-up
        for name, workers in (("flow_1_worker", 1), (f"flow_{args.workers}_workers", args.workers)):
            t0 = time.perf_counter()
            summary = nightly_batch(inbox=str(tmp / "inbox"), store=str(tmp / f"store-{workers}"),
                                    config=args.config, workers=workers)
            wall = time.perf_counter() - t0
            if summary["processed"] != len(files):
                print(f"{name}: only {summary['processed']} of {len(files)} calls processed: {summary['failures']}")
                return 1
            results[name] = {"wall_s": wall, "audio_s": summary["audio_s"], "workers": workers}
            print(f"{name} done in {wall:.1f} s", flush=True)

    rows = {"plain_loop": {"wall_s": plain_wall, "audio_s": audio_s, "workers": 1}, **results}
    for r in rows.values():
        r["audio_s_per_wall_s"] = r["audio_s"] / r["wall_s"]
    one, many = rows["flow_1_worker"], rows[f"flow_{args.workers}_workers"]
    overhead = one["wall_s"] / rows["plain_loop"]["wall_s"]
    speedup = one["wall_s"] / many["wall_s"]
    print()
    print(f"{'run':<22} {'wall s':>8} {'audio s':>9} {'audio s / wall s':>17}")
    for name, r in rows.items():
        print(f"{name:<22} {r['wall_s']:>8.1f} {r['audio_s']:>9.1f} {r['audio_s_per_wall_s']:>17.2f}")
    print()
    print(f"Prefect 1 worker / plain loop (wall time): {overhead:.3f}  target <= 1.10  "
          f"{'PASS' if overhead <= 1.10 else 'MISS'}")
    print(f"{args.workers} workers vs 1 worker (speed-up):      {speedup:.2f}   target >= 1.6 (2 workers, 2 cores)  "
          f"{'PASS' if speedup >= 1.6 else 'MISS'}")
    if args.json:
        args.json.write_text(json.dumps({"runs": rows, "prefect_overhead": overhead, "speedup": speedup,
                                         "calls": len(files), "cpu_count": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
