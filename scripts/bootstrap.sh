#!/usr/bin/env bash
# Create .venv with the locked dependencies (hash-checked) and the project itself.
# Works on a fresh Debian/Ubuntu machine: installs uv with pip when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=${1:-requirements/dev.lock}
PY=${PYTHON:-python3}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "geocommerce needs Python >= 3.11 (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi

if ! "$PY" -m uv --version >/dev/null 2>&1; then
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip
  fi
  "$PY" -m pip install --quiet --user uv 2>/dev/null \
    || "$PY" -m pip install --quiet --user --break-system-packages uv \
    || "$PY" -m pip install --quiet uv
fi
UV=("$PY" -m uv)

if [ ! -x .venv/bin/python ]; then
  "${UV[@]}" venv --quiet --python "$PY" .venv
fi
"${UV[@]}" pip sync --quiet --python .venv/bin/python --require-hashes "$LOCK"
"${UV[@]}" pip install --quiet --python .venv/bin/python --no-deps -e .
touch .venv/.installed-"$(basename "$LOCK")"
