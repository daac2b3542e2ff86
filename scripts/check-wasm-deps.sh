#!/usr/bin/env bash
# Fails when a server-only crate reaches the browser build's normal dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."

tree=$(cargo tree --target wasm32-unknown-unknown --no-default-features --features hydrate \
  -e normal --prefix none --format '{p}')
found=$(printf '%s\n' "$tree" | awk '{print $1}' \
  | grep -xE 'redis|fred|tokio|axum|leptos_axum|tower-sessions|tower-sessions-redis-store|tower-sessions-core|argon2' \
  | sort -u || true)
if [ -n "$found" ]; then
  echo "server-only crates in the hydrate build: $found" >&2
  exit 1
fi
echo "hydrate build: no redis, fred, tokio, axum, leptos_axum, tower-sessions or argon2"
