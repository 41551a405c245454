#!/usr/bin/env bash
# `npm run setup` (through scripts/with-node.sh, so `node` is a supported one): the npm packages,
# then the Python venv (scripts/setup-python.sh). Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

npm install --no-audit --no-fund
# better-sqlite3 is compiled for one Node ABI: a node_modules installed under another Node (say the
# machine's Node 20, before the project moved on) is rebuilt for this one rather than failing at start.
if ! node -e "new (require('better-sqlite3'))(':memory:').close()" 2>/dev/null; then
  echo "setup: rebuilding better-sqlite3 for Node $(node --version)"
  npm rebuild better-sqlite3
fi
bash scripts/setup-python.sh
