"""After `callqa demo`, the printed way into the web app works exactly as printed: the demo's
last step (callqa/commands/demo_access.py) on a small store, then the printed command run
through `callqa` (uvicorn replaced by FastAPI's TestClient) and a login with the printed
user and password."""

from __future__ import annotations

import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from callqa.pipeline.batch import run_batch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_calls"


@pytest.fixture()
def small_store(tmp_path) -> Path:
    box = tmp_path / "inbox"
    box.mkdir()
    for name in ("en_bad_inbound_tx.json", "ru_good_inbound_tx.json"):
        shutil.copy(SAMPLES / "transcripts" / name, box)
    store = tmp_path / "demo store"  # a space: the printed command must quote it
    summary = run_batch([box], store, SAMPLES / "config.yaml", report=False)
    assert summary.processed == 2
    return store


def printed_access(out: str) -> tuple[list[str], str, str, str]:
    """(command argv, URL, user, password) from the demo's output."""
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("Open the web app"))
    argv = shlex.split(lines[i + 1])
    m = re.search(r"then (http://\S+)\s+user: (\S+)\s+password: (\S+)", lines[i + 2])
    assert m, lines[i + 2]
    return argv, m.group(1), m.group(2), m.group(3)


def serve_as_printed(argv: list[str], monkeypatch) -> dict:
    """`callqa serve ...` exactly as printed, with uvicorn replaced so the app can be tested."""
    import uvicorn

    from callqa.cli import main

    started: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    assert argv[1] == "serve"
    assert main(argv[1:]) == 0
    return started


def login(app, user: str, password: str):
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": user, "password": password, "csrf_token": token},
                    follow_redirects=False)
    return client, r


def test_the_web_app_opens_exactly_as_the_demo_prints(small_store, monkeypatch, capsys):
    from callqa.cli import main
    from callqa.commands.common import console
    from callqa.commands.demo_access import print_web_access

    # today's failure on a fresh demo store: no users
    assert main(["serve", "--store", str(small_store)]) == 2
    assert "no users yet" in capsys.readouterr().err

    print_web_access(console(), small_store, SAMPLES / "config.yaml")
    argv, url, user, password = printed_access(capsys.readouterr().out)

    # the printed program is this installation's callqa, runnable from any directory
    assert argv[0] == "callqa" or Path(argv[0]).is_absolute()
    assert subprocess.run(argv[:1] + ["serve", "--help"], capture_output=True, cwd="/").returncode == 0

    started = serve_as_printed(argv, monkeypatch)
    assert url == f"http://{started['host']}:{started['port']}/"
    client, r = login(started["app"], user, password)
    assert r.status_code == 303, r.text
    queue = client.get("/queue", headers={"accept": "text/html"})
    assert queue.status_code == 200 and "en_bad_inbound_tx" in queue.text
    _, wrong = login(started["app"], user, password + "x")
    assert wrong.status_code != 303

    saved = small_store / "demo-login.txt"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert f"password: {password}" in saved.read_text()
    assert shlex.split(saved.read_text().splitlines()[1]) == argv  # the same command, kept with the store


def test_a_second_demo_run_prints_a_new_password_and_the_old_one_stops_working(small_store, monkeypatch, capsys):
    from callqa.commands.common import console
    from callqa.commands.demo_access import print_web_access

    print_web_access(console(), small_store)
    argv, _, user, old = printed_access(capsys.readouterr().out)
    print_web_access(console(), small_store)
    argv2, _, user2, new = printed_access(capsys.readouterr().out)
    assert argv2 == argv and "--config" not in argv and user2 == user and new != old
    app = serve_as_printed(argv2, monkeypatch)["app"]
    assert login(app, user, new)[1].status_code == 303
    assert login(app, user, old)[1].status_code != 303
