"""Sessions, CSRF tokens, the session secret and login rate limiting.

- Sessions: Starlette's `SessionMiddleware` (a cookie signed with itsdangerous,
  HttpOnly, SameSite=Lax, Secure when `web.secure_cookies`). The session holds the
  user name, a stamp of the password hash (a password change ends old sessions)
  and the CSRF token.
- CSRF: every form carries `csrf_token`; every POST route checks it against the
  session (`check_csrf`), so a forged form from another site gets 403.
- The secret that signs cookies is kept in `STORE/.web_secret` (mode 0600),
  created on first run.
- Login attempts: at most `login_attempts` failures per user name + client address
  within `login_window_s` (and `login_attempts_per_ip` per address), then 429.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from callqa.pipeline.store.db import SECRET_FILE, load_or_create_secret  # noqa: F401  (the store owns its secret)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class LoginLimiter:
    """Counts failed logins in a sliding window, per (user name, address) and per address."""

    def __init__(self, attempts: int, window_s: float, per_ip: int):
        self.attempts = attempts
        self.window_s = window_s
        self.per_ip = per_ip
        self._fails: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window_s:
            q.popleft()

    def retry_after(self, name: str, ip: str) -> int | None:
        """Seconds to wait when this login may not be tried now, else None."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, limit in (((name.lower(), ip), self.attempts), (("", ip), self.per_ip)):
                q = self._fails.get(key)
                if q is None:
                    continue
                self._trim(q, now)
                if len(q) >= limit:
                    waits.append(int(q[0] + self.window_s - now) + 1)
            return max(waits) if waits else None

    def failed(self, name: str, ip: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._fails[(name.lower(), ip)].append(now)
            self._fails[("", ip)].append(now)

    def succeeded(self, name: str, ip: str) -> None:
        with self._lock:
            self._fails.pop((name.lower(), ip), None)
