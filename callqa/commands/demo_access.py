"""The last step of `callqa demo`: a web app user in the demo store and the exact command
that opens the web app on it, so `callqa serve` works as printed on a fresh machine.

The demo store gets one admin user, `demo`, with a freshly generated password (a new one
each demo run, since the store is replaced). The password is printed and kept in
`STORE/demo-login.txt` (mode 0600) with the command. The command names the `callqa`
that ran the demo: plain `callqa` when that name on PATH is this installation, else the
full path of this environment's script (e.g. `/opt/callqa/.venv/bin/callqa` after
`scripts/demo.sh`, whose `.venv/bin` is not on the user's PATH).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_USER = "demo"
DEMO_ROLE = "admin"
LOGIN_FILE = "demo-login.txt"
DEFAULT_URL = "http://127.0.0.1:8000/"  # where `callqa serve` listens by default


@dataclass(frozen=True)
class DemoLogin:
    user: str
    password: str
    command: str  # a shell command line
    url: str
    file: Path


def callqa_command() -> str:
    """How to run this callqa from the user's shell."""
    here = Path(sys.executable).parent / "callqa"  # the environment's script (not resolved: venvs link python)
    found = shutil.which("callqa")
    if here.is_file() and os.access(here, os.X_OK):
        if found and Path(found).resolve() == here.resolve():
            return "callqa"
        return shlex.quote(str(here.absolute()))
    return f"{shlex.quote(sys.executable)} -m callqa.cli"


def create_demo_login(store: str | Path, config_file: str | Path | None = None) -> DemoLogin:
    """Add (or replace) the demo user in `store` with a new password; write and return how to log in."""
    from callqa.users import UserDB

    store = Path(store).resolve()
    password = secrets.token_urlsafe(12)  # 16 characters of [A-Za-z0-9_-]
    UserDB(store).add(DEMO_USER, DEMO_ROLE, password, replace_existing=True)
    command = f"{callqa_command()} serve --store {shlex.quote(str(store))}"
    if config_file is not None:
        command += f" --config {shlex.quote(str(Path(config_file).resolve()))}"
    login = DemoLogin(DEMO_USER, password, command, DEFAULT_URL, store / LOGIN_FILE)
    text = (f"# callqa demo: the web app over this store (user {DEMO_USER!r}, role {DEMO_ROLE})\n"
            f"{command}\n# then open {login.url}\nuser: {login.user}\npassword: {login.password}\n")
    fd = os.open(login.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return login


def web_access_lines(login: DemoLogin) -> list[str]:
    return ["Open the web app (review queue, calls, scorecards):",
            f"  {login.command}",
            f"  then {login.url}  user: {login.user}  password: {login.password}  (saved in {login.file})"]


def print_web_access(out: Any, store: str | Path, config_file: str | Path | None = None) -> DemoLogin:
    """Create the demo login and print how to open the web app on `out` (a rich Console)."""
    login = create_demo_login(store, config_file)
    for line in web_access_lines(login):
        out.print(line, soft_wrap=True, markup=False, highlight=False)
    return login
