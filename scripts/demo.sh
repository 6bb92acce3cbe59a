#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the demo: a receiving stub, an agent and a watched folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/relay demo "$@"
