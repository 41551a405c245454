#!/usr/bin/env bash
# Runs the processing job's Python tests in the repo's .venv (see scripts/setup-python.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec "$root/.venv/bin/python" -m pytest processing/tests -q "$@"
