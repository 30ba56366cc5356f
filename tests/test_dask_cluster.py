"""The nightly flow on a real multi-process Dask cluster: a `dask scheduler` and two
`dask worker` processes started from the installed `distributed` CLI. Workers only
compute; the flow is the store's one writer. One worker is SIGKILLed after the first
result is stored: every call is still stored exactly once, none is lost, the failure
(a corrupt file) is stored with its reason, and no worker ever touched the store
(an audit hook in each worker refuses and reports any file access under it)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # before Prefect loads
os.environ.setdefault("DO_NOT_TRACK", "1")

import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from test_flow import prefect_api  # noqa: E402,F401  (one temporary Prefect server per session)

from callqa.pipeline.store.db import Store  # noqa: E402

DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")

# Loaded by each worker (`dask worker --preload`): any file opened, created or listed under
# the store is refused and reported in the guard folder; each call is slowed down, and
# announced in the progress folder, so the test can kill a worker in the middle of a call.
WORKER_PRELOAD = textwrap.dedent('''
    import os, sys, time
    STORE = os.environ["CALLQA_TEST_STORE"]
    REPORTS = os.environ["CALLQA_TEST_GUARD"]
    PROGRESS = os.environ["CALLQA_TEST_PROGRESS"]

    def _guard(event, args):
        if event not in ("open", "os.mkdir", "os.listdir", "os.scandir", "os.remove", "os.rename", "shutil.rmtree"):
            return
        try:
            path = os.fspath(args[0])
        except TypeError:
            return
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if isinstance(path, str) and os.path.abspath(path).startswith(STORE):
            with open(os.path.join(REPORTS, f"{os.getpid()}-{time.monotonic_ns()}"), "w") as f:
                f.write(f"{event} {path}")
            raise PermissionError(f"worker {os.getpid()} touched the store: {event} {path}")

    import callqa.pipeline.batch as batch

    if not getattr(batch, "_test_guarded", False):  # dask may import a preload file twice
        batch._test_guarded = True
        sys.addaudithook(_guard)
        _real = batch.process_call

        def _slow(path, *args, **kwargs):  # says which call this worker is on
            mark = os.path.join(PROGRESS, str(os.getpid()))
            with open(mark, "w") as f:
                f.write(str(path))
            time.sleep(float(os.environ["CALLQA_TEST_DELAY"]))
            try:
                return _real(path, *args, **kwargs)
            finally:
                os.remove(mark)

        batch.process_call = _slow
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_inbox(box: Path, sample_calls_dir: Path) -> dict[str, Path]:
    """The sample transcripts, a short stereo recording and a corrupt file: call id → file."""
    box.mkdir()
    calls = {}
    for p in sorted((sample_calls_dir / "transcripts").glob("*.json")):
        shutil.copy(p, box / p.name)
        calls[json.loads(p.read_text(encoding="utf-8")).get("call_id") or p.stem] = box / p.name
    src = sample_calls_dir / "audio" / "en_good_inbound.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", "8", str(box / "short.wav")], check=True)
    meta = json.loads(src.with_name("en_good_inbound.meta.json").read_text(encoding="utf-8"))
    (box / "short.meta.json").write_text(json.dumps({**meta, "call_id": "short"}), encoding="utf-8")
    calls["short"] = box / "short.wav"
    (box / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    calls["corrupt"] = box / "corrupt.wav"
    return calls


@pytest.mark.slow
@pytest.mark.skipif(DASK is None, reason="the `dask` command line (package distributed) is not installed")
def test_two_dask_workers_one_killed_mid_batch_nothing_lost_nothing_doubled_store_never_touched(
        prefect_api, tmp_path, sample_calls_dir):
    from distributed import Client

    from callqa.flows.nightly import nightly_batch

    calls = build_inbox(tmp_path / "inbox", sample_calls_dir)
    store = Store(tmp_path / "store")
    guard, progress = tmp_path / "guard", tmp_path / "progress"
    guard.mkdir()
    progress.mkdir()
    preload = tmp_path / "worker_guard.py"
    preload.write_text(WORKER_PRELOAD)
    env = {**os.environ, "CALLQA_TEST_STORE": str(store.path.resolve()), "CALLQA_TEST_GUARD": str(guard),
           "CALLQA_TEST_PROGRESS": str(progress),
           "CALLQA_TEST_DELAY": "1.0", "PREFECT_API_URL": prefect_api, "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PREFECT_LOGGING_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1"}
    address = f"tcp://127.0.0.1:{free_port()}"
    procs: list[subprocess.Popen] = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, *args: str) -> subprocess.Popen:
        out = open(logs / f"{name}.log", "w")
        p = subprocess.Popen([DASK, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        procs.append(p)
        return p

    def log_tail() -> str:
        return "\n".join(f"--- {f.name}\n{f.read_text()[-3000:]}" for f in sorted(logs.iterdir()))

    result: dict = {}
    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
              "--no-dashboard")
        workers = [start(f"worker{i}", "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                         "--preload", str(preload), "--name", f"w{i}") for i in range(2)]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=90)
            running_pids = set(client.run(os.getpid).values())
        pids = {f"w{i}": w.pid for i, w in enumerate(workers)}  # no nanny: the worker is the process started
        assert running_pids == set(pids.values()), log_tail()

        flow = threading.Thread(target=lambda: result.update(
            nightly_batch(inbox=str(tmp_path / "inbox"), store=str(store.path), dask_address=address, report=False)))
        flow.start()
        victim = progress / str(workers[0].pid)
        deadline = time.monotonic() + 150
        while not (store.db_path.exists() and store.processing_log() and victim.exists()):
            assert flow.is_alive() and time.monotonic() < deadline, f"no call was stored\n{log_tail()}"
            time.sleep(0.1)
        workers[0].send_signal(signal.SIGKILL)  # after the first result is stored, in the middle of a call
        workers[0].wait()
        stored_before_kill = {r["call_id"] for r in store.processing_log()}
        assert victim.exists(), "the worker was between two calls when it was killed"
        on = Path(victim.read_text()).resolve()
        cut_short = next((cid for cid, path in calls.items() if path.resolve() == on), f"? {on}")
        assert cut_short not in stored_before_kill
        flow.join(timeout=150)
        assert not flow.is_alive(), f"the flow did not finish after a worker died\n{log_tail()}"
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    assert result, f"the flow raised\n{log_tail()}"
    assert not list(guard.iterdir()), [f.read_text() for f in guard.iterdir()]  # no worker opened the store
    # every call stored exactly once, none lost
    rows = store.query("SELECT call_id, count(*) AS n FROM calls GROUP BY 1")
    assert {r["call_id"]: r["n"] for r in rows} == {cid: 1 for cid in calls}
    log = store.processing_log()
    assert sorted(r["call_id"] for r in log) == sorted(calls), "a call was written twice or not at all"
    assert (result["processed"], result["failed"], result["skipped"]) == (len(calls) - 1, 1, 0)
    assert stored_before_kill <= {c["call_id"] for c in result["calls"]}
    # the one failure is the corrupt file, stored with its reason
    (failure,) = result["failures"]
    assert failure["call_id"] == "corrupt" and failure["reason"]
    err = store.get("corrupt")
    assert err["status"] == "error" and err["flags"][0]["id"] == "processing_error" and err["error"]
    for cid, path in calls.items():
        if cid == "corrupt":
            continue
        got = store.get(cid)
        assert got.get("status") is None and got["transcript"]["turns"], cid
        if path.suffix == ".json":
            assert len(got["transcript"]["turns"]) == len(json.loads(path.read_text(encoding="utf-8"))["turns"])
    # the workers computed every call (processing_log names them), the flow wrote them
    computed_by = {int(r["worker"].rsplit(":", 1)[1]) for r in log}
    assert computed_by <= set(pids.values()) and os.getpid() not in computed_by
    (redone,) = [r for r in log if r["call_id"] == cut_short]  # the killed worker's call, done by the other
    assert int(redone["worker"].rsplit(":", 1)[1]) == pids["w1"]
    assert redone["outcome"] == ("failed" if cut_short == "corrupt" else "processed")
