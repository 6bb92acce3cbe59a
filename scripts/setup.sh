#!/usr/bin/env bash
# Sets up everything relay needs on a fresh Debian/Ubuntu machine: a virtualenv in .venv with relay
# in it, then the system libraries its Qt platform plugins lack (found with ldd on the installed
# plugins, mapped to Debian packages by scripts/qt_system_libs.py), installed when we may (root),
# otherwise printed as the exact command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

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

# The desktop app's system libraries (Linux with dpkg only; elsewhere Qt brings what it needs).
if [ "$(uname -s)" = Linux ] && command -v dpkg >/dev/null 2>&1 && command -v ldd >/dev/null 2>&1; then
  updated=no
  for round in 1 2 3; do  # a library found missing only once the one that needs it is there
    missing=$(.venv/bin/python scripts/qt_system_libs.py --missing)
    [ -z "$missing" ] && break
    if [ "$(id -u)" = 0 ] && [ "$updated" = no ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      updated=yes
    fi
    mapfile -t pkgs < <(.venv/bin/python scripts/qt_system_libs.py)
    if [ ${#pkgs[@]} -eq 0 ]; then
      echo "note: the desktop app lacks these libraries and no Debian package was found for them:" $missing >&2
      break
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "note: the desktop app (relay gui, the demo's window) needs these Debian packages; install them with:" >&2
      echo "  sudo apt-get install --no-install-recommends ${pkgs[*]}" >&2
      break
    fi
    echo "installing Debian packages the desktop app needs: ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    installed=yes
  done
  if [ "${installed:-no}" = yes ]; then
    still=$(.venv/bin/python scripts/qt_system_libs.py --missing)
    if [ -n "$still" ]; then
      echo "note: after installing, the desktop app still lacks:" $still >&2
    fi
  fi
fi
