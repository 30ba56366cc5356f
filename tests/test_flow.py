"""The nightly Prefect flow under `prefect_test_harness`: expected rows and one
processing_error, reruns that do nothing, a SIGKILLed run that resumes without
duplicates, concurrent runs that never process a call twice, a local Dask cluster
that stores the same rows, the schedule, and `callqa batch` / `callqa demo`."""

from __future__ import annotations

import json
import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # before Prefect loads
os.environ.setdefault("DO_NOT_TRACK", "1")

import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from callqa.pipeline.store.db import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EN_TURNS = [
    ("operator", 0.4, 3.9, "Thank you for calling Northwind Bank, my name is Anna. How can I help you?"),
    ("client", 4.3, 8.0, "Hi, my card was blocked this morning, this is ridiculous, I want a manager."),
    ("operator", 8.4, 12.5, "I understand. So what you're saying is your card stopped working today?"),
    ("client", 13.0, 14.2, "Yes, exactly."),
    ("operator", 14.6, 19.0, "I have unblocked it. Is there anything else I can help you with?"),
    ("client", 19.4, 20.5, "No, thank you, bye."),
]


def write_transcript(path: Path, call_id: str, operator: str = "op-1") -> Path:
    path.write_text(json.dumps({"call_id": call_id, "language": "en", "operator_id": operator, "role": "inbound",
                                "turns": [{"speaker": s, "start": a, "end": b, "text": t}
                                          for s, a, b, t in EN_TURNS]}), encoding="utf-8")
    return path


def transcript_inbox(box: Path, n: int, corrupt: bool = True) -> Path:
    box.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_transcript(box / f"call{i:02d}.json", f"call{i:02d}", operator=f"op-{i % 3}")
    if corrupt:
        (box / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return box


@pytest.fixture(scope="session")
def prefect_api():
    """A temporary Prefect server for the whole session (its start is the main cost)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield PREFECT_API_URL.value()


def cli_env(tmp_path: Path, api_url: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "CALLQA_DATA_DIR": str(tmp_path / "data"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1", "PYANNOTE_METRICS_ENABLED": "0", "PREFECT_LOGGING_LEVEL": "WARNING"}


# `callqa` with every call slowed down, so a test can act while a run is in flight.
SLOW_CLI = textwrap.dedent("""
    import sys, time
    import callqa.pipeline.batch as b
    real = b.process_call
    def slow(*args, **kwargs):
        time.sleep(float(sys.argv[1]))
        return real(*args, **kwargs)
    b.process_call = slow
    from callqa.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def start_cli(tmp_path: Path, api_url: str, delay: float, *args: str) -> subprocess.Popen:
    script = tmp_path / "slow_cli.py"
    script.write_text(SLOW_CLI)
    return subprocess.Popen([sys.executable, str(script), str(delay), "batch", *args, "--no-progress"],
                            env=cli_env(tmp_path, api_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def processed_once(store: Store) -> dict[str, int]:
    rows = store.query("SELECT call_id, count(*) AS n FROM processing_log WHERE outcome = 'processed' GROUP BY 1")
    return {r["call_id"]: r["n"] for r in rows}


def short_sample_audio(sample_calls_dir: Path, dest: Path, seconds: float = 20.0) -> Path:
    """The shortest English sample call, cut to its first seconds (keeps channels and sidecar)."""
    audio = [p for p in (sample_calls_dir / "audio").iterdir()
             if p.suffix in (".wav", ".flac", ".mp3", ".ogg") and not p.name.startswith(".")]
    assert audio, f"no sample audio in {sample_calls_dir / 'audio'}"
    src = min(audio, key=lambda p: p.stat().st_size)
    out = dest / (src.stem + ".wav")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", str(seconds), str(out)], check=True)
    side = src.with_name(src.stem + ".meta.json")
    if side.is_file():
        shutil.copy(side, dest / side.name)
    return out


@pytest.mark.slow
def test_nightly_flow_stores_sample_calls_and_one_processing_error_then_skips_all(
        prefect_api, tmp_path, sample_calls_dir, config):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from callqa.flows.nightly import nightly_batch

    box = tmp_path / "inbox"
    box.mkdir()
    transcripts = sorted((sample_calls_dir / "transcripts").glob("*.json"))[:3]
    assert transcripts, "sample_calls/transcripts is empty"
    for p in transcripts:
        shutil.copy(p, box / p.name)
    write_transcript(box / "handmade.json", "handmade-1", operator="op-42")
    audio = short_sample_audio(sample_calls_dir, box, seconds=12.0)
    (box / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    store = Store(tmp_path / "store")

    summary = nightly_batch(inbox=str(box), store=str(store.path))
    n_ok = len(transcripts) + 2
    assert (summary["processed"], summary["failed"], summary["skipped"]) == (n_ok, 1, 0)
    assert summary["flagged"] == sum(1 for c in summary["calls"] if c["status"] == "processed" and c["flags"])

    calls = {c["call_id"]: c for c in store.calls()}
    assert len(calls) == n_ok + 1
    errors = [f for f in store.flags() if f["flag_id"] == "processing_error"]
    assert len(errors) == 1 and errors[0]["call_id"] == "corrupt" and errors[0]["reason"]
    assert calls["corrupt"]["status"] == "error"
    for p in transcripts + [box / "handmade.json"]:
        data = json.loads(p.read_text(encoding="utf-8"))
        cid = data.get("call_id") or p.stem
        assert calls[cid]["n_turns"] == len(data["turns"]) and calls[cid]["status"] == "ok"
    assert calls["handmade-1"]["operator_id"] == "op-42"
    for cid, row in calls.items():  # every section of every result is in its table
        result = store.get(cid)
        for table, key in (("flags", "flags"), ("competencies", "competencies"), ("indicators", "indicators"),
                           ("nominations", "nominations")):
            n = store.query(f"SELECT count(*) AS n FROM {table} WHERE call_id = ?", [cid])[0]["n"]
            assert n == len(result.get(key) or []), (cid, table)
        assert row["n_flags"] == len(result["flags"])
    spoken = store.get(json.loads(audio.with_name(audio.stem + ".meta.json").read_text())["call_id"]
                       if audio.with_name(audio.stem + ".meta.json").is_file() else audio.stem)
    assert spoken["source"]["sample_rate"] > 0 and spoken["transcript"]["turns"]
    assert spoken["models"]["asr"] and spoken["models"]["asr"] != "import"
    assert spoken["config_hash"] == config.hash

    report = Path(summary["report"])
    html = report.read_text(encoding="utf-8")
    assert "corrupt.wav" in html and errors[0]["reason"] in html
    assert (store.reports_dir / "latest.html").read_text(encoding="utf-8") == html
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["callqa-nightly-summary"])))
    assert arts and summary["run_id"] in arts[0].data

    again = nightly_batch(inbox=str(box), store=str(store.path))
    assert (again["processed"], again["failed"], again["skipped"]) == (0, 0, n_ok + 1)
    assert set(processed_once(store).values()) == {1}


@pytest.mark.slow
def test_concurrent_runs_and_a_killed_run_never_duplicate_or_lose_a_call(prefect_api, tmp_path, capsys, monkeypatch):
    """Run A (a separate process) holds the store; run B refuses with a clear message;
    run C waits for the lock. A is SIGKILLed mid-way; C then finishes exactly the calls
    A had not stored: every call processed once, none lost, A's calls not redone."""
    import threading

    from callqa.cli import main
    from callqa.flows.nightly import nightly_batch

    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "data"))
    box = transcript_inbox(tmp_path / "inbox", 10, corrupt=False)
    store = Store(tmp_path / "store")
    run_a = start_cli(tmp_path, prefect_api, 0.5, str(box), "--store", str(store.path))
    waited: dict = {}
    try:
        def done(n: int):
            def check() -> bool:
                assert run_a.poll() is None, run_a.communicate()[1]
                return store.db_path.exists() and len(store.processing_log()) >= n
            return check

        wait_until(done(2), 180, "run A to store its first calls")
        assert main(["batch", str(box), "--store", str(store.path), "--no-progress"]) == 3  # run B
        assert "another batch run is using this store" in capsys.readouterr().err
        run_c = threading.Thread(target=lambda: waited.update(
            nightly_batch(inbox=str(box), store=str(store.path), wait_for_lock=True, report=False)))
        run_c.start()
        wait_until(done(4), 120, "run A to store more calls")
        assert not waited, "run C must wait while run A holds the store"
    finally:
        os.kill(run_a.pid, signal.SIGKILL)
        run_a.wait()
    run_c.join(timeout=240)
    assert not run_c.is_alive()
    killed_log = [r for r in store.processing_log() if r["run_id"] != waited["run_id"]]
    assert 4 <= len(killed_log) < 10, "run A should have been killed mid-way"
    assert (waited["processed"], waited["skipped"]) == (10 - len(killed_log), len(killed_log))
    calls = store.calls()
    assert sorted(c["call_id"] for c in calls) == [f"call{i:02d}" for i in range(10)]
    assert processed_once(store) == {f"call{i:02d}": 1 for i in range(10)}, "a call was processed twice"
    by_a = {r["call_id"]: r["run_id"] for r in killed_log}
    assert all(c["run_id"] == by_a[c["call_id"]] for c in calls if c["call_id"] in by_a)
    assert store.counts()["turns"] == 10 * len(EN_TURNS)


def _rows(store: Store) -> dict[str, list]:
    volatile = {"run_id", "processed_at", "processing_s", "quarantined_at", "result"}
    out = {}
    for table in ("calls", "turns", "signals", "indicators", "competencies", "flags", "nominations", "quarantine"):
        frame = store.frame(table)
        cols = [c for c in frame.columns if c not in volatile]
        out[table] = sorted(map(repr, frame.select(cols).rows()))
    return out


@pytest.mark.slow
def test_dask_local_cluster_stores_the_same_rows_as_a_plain_run(prefect_api, tmp_path):
    from callqa.flows.nightly import nightly_batch

    box = transcript_inbox(tmp_path / "inbox", 4)
    plain = nightly_batch(inbox=str(box), store=str(tmp_path / "plain"), report=False)
    dask = nightly_batch(inbox=str(box), store=str(tmp_path / "dask"), workers=2, report=False)
    assert (dask["processed"], dask["failed"]) == (plain["processed"], plain["failed"]) == (4, 1)
    assert len({c["worker"] for c in dask["calls"] if c["worker"]}) >= 1
    assert {c["worker"].split(":")[1] for c in dask["calls"] if c["worker"]} != {str(os.getpid())}
    a, b = _rows(Store(tmp_path / "plain")), _rows(Store(tmp_path / "dask"))
    for table in a:
        assert a[table] == b[table], f"table {table} differs between the plain and the Dask run"


def test_schedule_deployment_and_prefect_yaml():
    from prefect.flows import load_flow_from_entrypoint

    from callqa.flows.deploy import DEFAULT_CRON, build_deployment, check_schedule

    dep = build_deployment("/srv/inbox", "/srv/store", timezone="Europe/Moscow")
    (sched,) = dep.schedules
    assert sched.schedule.cron == DEFAULT_CRON == "0 2 * * *"
    assert sched.schedule.timezone == "Europe/Moscow"
    assert dep.parameters["inbox"] == "/srv/inbox" and dep.parameters["wait_for_lock"] is True
    with pytest.raises(ValueError, match="unknown timezone 'Mars/Olympus'"):
        check_schedule(DEFAULT_CRON, "Mars/Olympus")
    with pytest.raises(ValueError, match="cron"):
        check_schedule("61 2 * * *", "UTC")

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for d in spec["deployments"]:
        path, _, name = d["entrypoint"].partition(":")
        flow = load_flow_from_entrypoint(str(ROOT / path) + ":" + name)
        assert flow.name == "callqa-nightly"
        assert set(d["parameters"]) <= set(flow.parameters.properties)
        for s in d["schedules"]:
            check_schedule(s["cron"], s["timezone"])


def test_batch_cli_fails_fast_on_bad_config_and_inbox(tmp_path, capsys, monkeypatch):
    from callqa.cli import main

    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "data"))

    box = transcript_inbox(tmp_path / "inbox", 1, corrupt=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  asr:\n    beam_size: 0\n")
    assert main(["batch", str(box), "--store", str(tmp_path / "s"), "--config", str(bad)]) == 2
    assert "models.asr.beam_size" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "nowhere"), "--store", str(tmp_path / "s")]) == 2
    assert "inbox is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "s" / "callqa.duckdb").exists()


def test_demo_runs_the_flow_into_a_fresh_store_and_skips_russian_audio_for_english_asr(
        prefect_api, tmp_path, monkeypatch, capsys):
    from callqa.cli import main

    samples = tmp_path / "samples"
    transcript_inbox(samples / "transcripts", 2, corrupt=False)
    (samples / "audio").mkdir()
    (samples / "ru_audio").mkdir()
    (samples / "ru_audio" / "ru_call.wav").write_bytes(b"would need a multilingual model")
    store = tmp_path / "demo-store"
    store.mkdir()
    (store / "callqa.duckdb").write_bytes(b"an old demo store")  # replaced, not reused
    monkeypatch.setenv("CALLQA_DATA_DIR", str(tmp_path / "data"))
    assert main(["demo", "--samples", str(samples), "--store", str(store), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "English-only" in out and "ru_audio" in out
    report = next(line.split(": ", 1)[1].strip() for line in out.splitlines() if "nightly report in a browser" in line)
    assert Path(report).is_file() and Path(report).parent.parent == store.resolve()
    assert sorted(c["call_id"] for c in Store(store).calls()) == ["call00", "call01"]


def test_nightly_flow_sends_exactly_one_digest_per_run(prefect_api, tmp_path):
    """The Prefect flow ends through the same `finish_batch` as `run_batch`: one digest per
    run to the webhook, with the failed file and the high-severity flags (tests/test_alerts.py
    covers e-mail and failures)."""
    from test_alerts import HIGH_FLAGS, Receiver, alerts_config, sample_inbox

    from callqa.flows.nightly import nightly_batch

    receiver = Receiver()
    try:
        box = sample_inbox(tmp_path / "inbox")
        cfg = alerts_config(tmp_path / "alerts.yaml", webhook=receiver.url, send_empty=True)
        first = nightly_batch(inbox=str(box), store=str(tmp_path / "store"), config=str(cfg))
        assert len(receiver.bodies) == 1 and receiver.bodies[0]["run_id"] == first["run_id"]
        assert first["extra"]["alerts"]["status"] == "sent"
        digest = receiver.bodies[0]
        assert [f["path"] for f in digest["failed_files"]["items"]] == [str(box.resolve() / "corrupt.wav")]
        assert {(f["call_id"], f["flag_id"]) for f in digest["high_severity_flags"]["items"]} == HIGH_FLAGS
        second = nightly_batch(inbox=str(box), store=str(tmp_path / "store"), config=str(cfg))
        assert len(receiver.bodies) == 2 and receiver.bodies[1]["run_id"] == second["run_id"]
        assert receiver.bodies[1]["empty"]
    finally:
        receiver.close()
