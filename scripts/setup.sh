#!/usr/bin/env bash
# Sets up everything relay needs on a fresh Debian/Ubuntu machine: the Qt runtime libraries
# (only those missing, only when we may install them) and a virtualenv in .venv with relay in it.
set -euo pipefail
cd "$(dirname "$0")/.."

qt_libs=(libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3)
if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for pkg in "${qt_libs[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing Debian packages: ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "note: the desktop app needs these Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    fi
  fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
log=$(mktemp)
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[test]"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup failed: see the pip output above" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
