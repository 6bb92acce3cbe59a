#!/usr/bin/env bash
# The real peers the tests start on loopback, installed on a fresh Debian machine (CI runs this):
# OpenSSH's sshd (SFTP), Prometheus and promtool (metrics), Xvfb with the Qt xcb libraries (the
# desktop demo under a real X display), Chromium (the fleet page screenshot) and the npm MLLP client.
# Tests that need a peer skip with a reason where it is absent, so a developer machine without
# root still runs the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(openssh-server prometheus xvfb xauth x11-utils chromium fonts-dejavu-core
      libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xkb1
      libxcb-render-util0 libxcb-image0 libxcb-randr0 libxcb-xinerama0 libxcb-xfixes0)
if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for pkg in "${pkgs[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing Debian packages: ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "note: some tests skip without these Debian packages: ${missing[*]}" >&2
    fi
  fi
fi
# The Debian prometheus package starts a system service; the tests start their own on loopback.
if command -v systemctl >/dev/null 2>&1; then systemctl stop prometheus >/dev/null 2>&1 || true; fi
pkill -x prometheus >/dev/null 2>&1 || true

if [ -f tests/peers/node/package.json ] && command -v npm >/dev/null 2>&1; then
  (cd tests/peers/node && npm ci --no-audit --no-fund --silent)
fi
