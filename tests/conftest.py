"""Shared fixtures. Tests run offline: no model may be downloaded."""

from __future__ import annotations

import os

# Before any model library is imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CALLS = ROOT / "sample_calls"
REAL_DATA = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def config():
    from callqa.pipeline.config import load_config

    return load_config()


@pytest.fixture(scope="session")
def sample_calls_dir() -> Path:
    return SAMPLE_CALLS


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real recordings not available: {REAL_DATA} is absent")
    return REAL_DATA


@pytest.fixture(scope="session")
def sign_in():
    """`sign_in(client, username, password)`: a web TestClient signed in through the login form
    (its CSRF token and all), asserting the redirect that means success."""
    import re

    def _sign_in(client, username: str, password: str):
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        r = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        return client

    return _sign_in
