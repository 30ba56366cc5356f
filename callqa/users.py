"""Users of the supervisor web app, kept beside the store.

File: ``STORE/users.json`` (mode 0600), one JSON object::

    {"version": 1, "users": {"anna": {"name": "anna", "role": "supervisor", "teams": ["blue"],
                                       "password_hash": "$argon2id$...", "created_at": "...",
                                       "disabled": false, "operator_id": null}}}

Passwords are hashed with Argon2id (argon2-cffi, its default parameters); hashes
made with older parameters are upgraded on the next successful login. Writes
take an exclusive `flock` on ``users.json.lock`` and replace the file atomically,
so the CLI and a running web app can change users at the same time.

Roles:
  admin       sees every call, may do everything
  supervisor  bound to one or more teams: sees only those teams' calls, reviews
              flags, overrides scores, approves nominations of those calls
  trainer     sees every call, builds the exemplary-call library (approve,
              reject, tag, export); no score overrides
  operator    tied to one operator id (`operator_id`): sees only the calls of that
              operator (call page, audio, scores with evidence, flags), their own
              scorecard and development plan, and disputes a score or a flag of
              their call; no queue of others, no library, no team dashboard, no overrides

Visibility of a call: `User.can_see_call(team, operator_id)` (supervisors by team,
operators by operator id, admin / trainer every call).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from callqa.pipeline.errors import PathError

USERS_FILE = "users.json"
ROLES = ("admin", "supervisor", "trainer", "operator")
# What each role may do (the web app checks these; team scoping is separate).
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"view_all", "override", "flag_decision", "review", "library", "export", "manage_users",
                        "team_view", "dispute_decision"}),
    "supervisor": frozenset({"override", "flag_decision", "review", "library", "export", "team_view",
                             "dispute_decision"}),
    "trainer": frozenset({"view_all", "library", "export", "team_view"}),
    "operator": frozenset({"dispute"}),
}
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8


class UserError(PathError):
    """A user cannot be added / changed as asked, or the users file is unusable."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    teams: tuple[str, ...] = ()
    password_hash: str = field(default="", repr=False)
    created_at: str | None = None
    disabled: bool = False
    operator_id: str | None = None  # operators only: the operator id whose calls they see

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def sees_all(self) -> bool:
        return self.can("view_all")

    def can_see_team(self, team: str | None) -> bool:
        """True when the user may see every call of `team` (calls without a team: admin / trainer
        only; an operator sees no whole team)."""
        return self.sees_all or (self.role != "operator" and team is not None and team in self.teams)

    def can_see_call(self, team: str | None, operator_id: str | None) -> bool:
        """True when the user may see a call of `team` made by `operator_id`: an operator
        only their own calls, the others as `can_see_team`."""
        if self.role == "operator":
            return self.operator_id is not None and operator_id is not None and str(operator_id) == self.operator_id
        return self.can_see_team(team)

    @property
    def stamp(self) -> str:
        """Changes when the password changes: sessions made before then stop working."""
        return self.password_hash[-16:]

    def serialize(self, with_hash: bool = False) -> dict[str, Any]:
        d = asdict(self)
        d["teams"] = list(self.teams)
        if not with_hash:
            d.pop("password_hash")
        return d


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password_strength(password: str) -> str | None:
    """Why a password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if password.strip() != password:
        return "the password must not start or end with spaces"
    return None


class UserDB:
    """The users of one store directory."""

    def __init__(self, store_dir: str | Path):
        self.dir = Path(store_dir).expanduser()
        self.path = self.dir / USERS_FILE

    # ---- file access
    @contextlib.contextmanager
    def _locked(self, write: bool) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / f"{USERS_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> dict[str, User]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise UserError(self.path, f"cannot read: {e.strerror or e}") from None
        try:
            data = json.loads(text)
            return {name: User(name=name, role=u["role"], teams=tuple(u.get("teams") or ()),
                               password_hash=u["password_hash"], created_at=u.get("created_at"),
                               disabled=bool(u.get("disabled", False)), operator_id=u.get("operator_id"))
                    for name, u in data["users"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise UserError(self.path, f"not a valid users file ({type(e).__name__}: {e})") from None

    def _write(self, users: dict[str, User]) -> None:
        data = {"version": 1, "users": {n: u.serialize(with_hash=True) for n, u in sorted(users.items())}}
        tmp = self.path.with_name(f".{USERS_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
        os.replace(tmp, self.path)

    # ---- reads
    def list(self) -> list[User]:
        with self._locked(write=False):
            return sorted(self._read().values(), key=lambda u: u.name)

    def get(self, name: str) -> User | None:
        with self._locked(write=False):
            return self._read().get(name)

    def teams(self) -> list[str]:
        return sorted({t for u in self.list() for t in u.teams})

    def supervisors(self) -> dict[str, list[str]]:
        """{name: teams} of the enabled supervisors (what `qa.sampling.supervisor_lists` takes)."""
        return {u.name: list(u.teams) for u in self.list() if u.role == "supervisor" and not u.disabled}

    # ---- writes
    def add(self, name: str, role: str, password: str, teams: tuple[str, ...] | list[str] = (),
            *, replace_existing: bool = False, operator_id: str | None = None) -> User:
        """Add a user (or replace one with `replace_existing`); returns it. An operator
        needs the `operator_id` whose calls they see (and no teams)."""
        if not _NAME.match(name or ""):
            raise UserError(self.path, f"user name {name!r} must be 1-64 letters, digits or . _ @ -")
        if role not in ROLES:
            raise UserError(self.path, f"role must be one of {', '.join(ROLES)}, got {role!r}")
        teams = tuple(dict.fromkeys(t.strip() for t in teams if t and t.strip()))
        if role == "supervisor" and not teams:
            raise UserError(self.path, f"supervisor {name!r} needs at least one --team")
        operator_id = self._check_operator(name, role, teams, operator_id)
        problem = check_password_strength(password)
        if problem:
            raise UserError(self.path, problem)
        user = User(name=name, role=role, teams=teams, password_hash=hash_password(password),
                    created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), operator_id=operator_id)
        with self._locked(write=True):
            users = self._read()
            if name in users and not replace_existing:
                raise UserError(self.path, f"user {name!r} already exists")
            users[name] = user
            self._write(users)
        return user

    def _check_operator(self, name: str, role: str, teams: tuple[str, ...], operator_id: str | None) -> str | None:
        """The operator id an operator user is tied to (None for the other roles)."""
        operator_id = (operator_id or "").strip() or None
        if role != "operator":
            if operator_id is not None:
                raise UserError(self.path, f"--operator-id is for operators only ({name!r} is a {role})")
            return None
        if operator_id is None:
            raise UserError(self.path, f"operator {name!r} needs --operator-id (the operator id of their calls)")
        if teams:
            raise UserError(self.path, f"operator {name!r} sees their own calls only; --team does not apply")
        return operator_id

    def update(self, name: str, *, role: str | None = None, teams: list[str] | tuple[str, ...] | None = None,
               password: str | None = None, disabled: bool | None = None,
               operator_id: str | None = None) -> User:
        with self._locked(write=True):
            users = self._read()
            if name not in users:
                raise UserError(self.path, f"no user {name!r}")
            u = users[name]
            if role is not None:
                if role not in ROLES:
                    raise UserError(self.path, f"role must be one of {', '.join(ROLES)}, got {role!r}")
                u = replace(u, role=role)
            if teams is not None:
                u = replace(u, teams=tuple(dict.fromkeys(t.strip() for t in teams if t.strip())))
            if u.role == "supervisor" and not u.teams:
                raise UserError(self.path, f"supervisor {name!r} needs at least one team")
            wanted = operator_id if operator_id is not None else (u.operator_id if u.role == "operator" else None)
            u = replace(u, operator_id=self._check_operator(name, u.role, u.teams, wanted))
            if password is not None:
                problem = check_password_strength(password)
                if problem:
                    raise UserError(self.path, problem)
                u = replace(u, password_hash=hash_password(password))
            if disabled is not None:
                u = replace(u, disabled=disabled)
            users[name] = u
            self._write(users)
            return u

    def remove(self, name: str) -> None:
        with self._locked(write=True):
            users = self._read()
            if name not in users:
                raise UserError(self.path, f"no user {name!r}")
            del users[name]
            self._write(users)

    # ---- authentication
    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the name and password match an enabled account, else None.
        Unknown names cost the same hashing time as known ones."""
        from argon2.exceptions import InvalidHashError, VerificationError

        user = self.get(name) if _NAME.match(name or "") else None
        target = user.password_hash if user is not None else _dummy_hash()
        try:
            _hasher().verify(target, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled:
            return None
        if _hasher().check_needs_rehash(user.password_hash):
            with contextlib.suppress(UserError):
                user = self.update(name, password=password)
        return user


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-0000")
