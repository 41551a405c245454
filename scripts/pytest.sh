#!/usr/bin/env bash
# Runs the processing job's Python tests in the repo's .venv, or VIDEOBOT_VENV (see scripts/setup-python.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec "${VIDEOBOT_VENV:-$root/.venv}/bin/python" -m pytest processing/tests -q "$@"
