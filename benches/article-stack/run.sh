#!/usr/bin/env bash
# The article's stack measured as Hail's cost benchmark measures Hail (BENCHMARKS.md, "Against
# the article's stack"): its own redis-server, two instances (riders on A, drivers on B), RIDES
# drivers each sending RATE positions a second for SECS, and one JSON line: sent, delivered,
# latency (ms), and the server processes' CPU per delivered position (us: A, B, Redis).
#
#   benches/article-stack/run.sh RIDES RATE SECS      # e.g. 1000 5 20
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 RIDES RATE SECS   (e.g. 1000 5 20)" >&2; exit 2; }
cd "$(dirname "$0")"
[ -d node_modules ] || npm install --no-audit --no-fund >&2
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
rp=$(free_port) pa=$(free_port) pb=$(free_port)
redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
rpid=$!
pids+=("$rpid")
until redis-cli -p "$rp" ping >/dev/null 2>&1; do sleep 0.1; done
PORT=$pa REDIS_URL=redis://127.0.0.1:$rp node server.js >"$work/a.log" 2>&1 &
a=$!
PORT=$pb REDIS_URL=redis://127.0.0.1:$rp node server.js >"$work/b.log" 2>&1 &
b=$!
pids+=("$a" "$b")
until grep -q listening "$work/a.log" && grep -q listening "$work/b.log"; do sleep 0.2; done
node loadgen.js "http://127.0.0.1:$pa" "http://127.0.0.1:$pb" "$1" "$2" "$3" "$a" "$b" "$rpid"
