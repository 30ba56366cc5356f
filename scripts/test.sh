#!/usr/bin/env bash
# Installs everything (Debian packages, .venv) and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export HF_HUB_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0 DO_NOT_TRACK=1
exec .venv/bin/python -m pytest -q "$@"
