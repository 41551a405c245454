#!/usr/bin/env bash
# Runs the processing job's Python tests in the repo's .venv, or VIDEOBOT_VENV (see scripts/setup-python.sh), and the
# Python side of the test tools (test/python: the fork server's real-job equivalence, docs/testing.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec "${VIDEOBOT_VENV:-$root/.venv}/bin/python" -m pytest processing/tests test/python -q "$@"
