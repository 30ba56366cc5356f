#!/usr/bin/env bash
# Creates .venv and installs everything callqa needs: Debian packages (ffmpeg,
# espeak-ng, sox, and for the browser tests chromium) and the Python packages.
# Safe to re-run: each step is skipped when already done.
#   scripts/setup.sh          runtime only (enough for `callqa demo`)
#   scripts/setup.sh --test   also the test tools and the headless browser
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

APT_PKGS=(ffmpeg espeak-ng sox libsndfile1)
if [[ $WITH_TEST == 1 ]]; then APT_PKGS+=(chromium chromium-driver fonts-dejavu-core); fi
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
VPIP=(.venv/bin/python -m pip -q)
extra=""; [[ $WITH_TEST == 1 ]] && extra="[test]"
stamp=".venv/.callqa-installed${extra}"
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing Python packages (first time: a few minutes)"
  "${VPIP[@]}" install --upgrade "pip>=24" >/dev/null
  # torch first, as a matching pair with torchaudio (see DEVELOPERS notes in README)
  "${VPIP[@]}" install "torch==2.11.0" "torchaudio==2.11.0"
  "${VPIP[@]}" install -e ".${extra}"
  echo "$want" > "$stamp"
fi
