#!/usr/bin/env bash
# Creates .venv at the repo root with processing/requirements-dev.txt installed.
# Idempotent: skips pip when the requirements files (and the interpreter) match the stamp.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"

want="$(cat "$root/processing/requirements.txt" "$root/processing/requirements-dev.txt" \
  <("$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup-python: .venv is up to date"
  exit 0
fi

start=$SECONDS
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# PyPI's Linux torch wheel depends on the nvidia-* CUDA wheels and will not import
# without them (torch/__init__.py preloads libcublas & co.), so there is no CPU-only
# shortcut from PyPI alone: install it plainly. See docs/processing.md for the numbers.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$root/processing/requirements-dev.txt"
echo "$want" > "$stamp"
echo "setup-python: installed in $((SECONDS - start))s ($(du -sh "$venv" | cut -f1))"
