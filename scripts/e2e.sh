#!/usr/bin/env bash
# End-to-end tests: two Hail instances sharing one throwaway Redis, driven by Playwright, and a
# fleet of three more behind nginx (scripts/fleet.sh) on the same Redis for the fleet specs.
#
# Needs a built site (`cargo leptos build`): the server binary and the site files.
#   HAIL_BIN        server binary        (default: target/debug/hail)
#   HAIL_SITE_ROOT  site files (pkg/...) (default: target/site)
# Every argument is passed to `npx playwright test` (e.g. a spec file or --grep).
# Redis runs on a free port with persistence off; 6379 is never touched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

HAIL_BIN="${HAIL_BIN:-target/debug/hail}"
HAIL_SITE_ROOT="${HAIL_SITE_ROOT:-target/site}"

die() { echo "e2e: $*" >&2; exit 1; }

[[ -x "$HAIL_BIN" ]] || die "no server binary at $HAIL_BIN; run \`cargo leptos build\` first (or set HAIL_BIN)"
[[ -d "$HAIL_SITE_ROOT/pkg" ]] || die "no site files in $HAIL_SITE_ROOT/pkg; run \`cargo leptos build\` first (or set HAIL_SITE_ROOT)"
command -v redis-server >/dev/null || die "redis-server is missing (apt-get install -y redis-server)"
command -v redis-cli >/dev/null || die "redis-cli is missing (apt-get install -y redis-server)"
command -v python3 >/dev/null || die "python3 is missing (used to pick free ports)"
[[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is missing (apt-get install -y chromium)"
[[ -d end2end/node_modules/@playwright/test ]] || die "Playwright is not installed; run \`(cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)\`"

HAIL_BIN="$(cd "$(dirname "$HAIL_BIN")" && pwd)/$(basename "$HAIL_BIN")"
HAIL_SITE_ROOT="$(cd "$HAIL_SITE_ROOT" && pwd)"

# Six distinct free ports, chosen by the kernel (bound at once so none repeats).
read -r REDIS_PORT PORT_A PORT_B FLEET_PORT PORT_DEMO_A PORT_DEMO_B < <(python3 - <<'PY'
import socket
socks = []
for _ in range(6):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
)

LOGS="$(mktemp -d "${TMPDIR:-/tmp}/hail-e2e.XXXXXX")"
PIDS=()

cleanup() {
  local status=$?
  if [[ -n "${HAIL_FLEET_DIR:-}" ]]; then
    bash "$ROOT/scripts/fleet.sh" down >"$LOGS/fleet-down.log" 2>&1 || true
  fi
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    for log in "$LOGS"/*.log "$LOGS"/fleet/logs/*.log; do
      [[ -f "$log" ]] || continue
      echo "----- last lines of $log -----" >&2
      tail -n 40 "$log" >&2
    done
    echo "e2e: failed (status $status); logs kept in $LOGS" >&2
  else
    rm -rf "$LOGS"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "e2e: redis on $REDIS_PORT, instance A on $PORT_A, instance B on $PORT_B, the demo pair on $PORT_DEMO_A and $PORT_DEMO_B (logs in $LOGS)"

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  >"$LOGS/redis.log" 2>&1 &
PIDS+=($!)

for _ in $(seq 1 100); do
  if [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]; then
    break
  fi
  kill -0 "${PIDS[0]}" 2>/dev/null || die "redis-server exited at start"
  sleep 0.1
done
[[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]] || die "redis-server did not answer PING within 10 s"

# start_instance NAME PORT [KEY_PREFIX] [DEMO_DRIVERS]
start_instance() {
  local name=$1 port=$2 prefix=${3:-e2e} demo=${4:-0}
  LEPTOS_OUTPUT_NAME=hail \
  LEPTOS_SITE_ROOT="$HAIL_SITE_ROOT" \
  LEPTOS_SITE_ADDR="127.0.0.1:$port" \
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
  HAIL_KEY_PREFIX="$prefix" \
  HAIL_DEMO_DRIVERS="$demo" \
  HAIL_SIGNUPS_PER_IP=10000 \
    "$HAIL_BIN" >"$LOGS/hail-$name.log" 2>&1 &
  PIDS+=($!)
}
start_instance a "$PORT_A"
start_instance b "$PORT_B"
# A second pair in a city of its own (its own key prefix) where demo drivers run, for the
# specs that need a busy map; their drivers never get the other specs' rides.
start_instance demo-a "$PORT_DEMO_A" e2e-demo 6
start_instance demo-b "$PORT_DEMO_B" e2e-demo 0

# The fleet: three instances behind nginx, on the same Redis; a short drain keeps the specs quick.
# Every spec signs up from 127.0.0.1: the sign-up limit per address is raised, as an operator
# would for a known address (the limit itself is tested in the Rust suite).
export HAIL_FLEET_DIR="$LOGS/fleet"
HAIL_FLEET_PORT="$FLEET_PORT" HAIL_BIN="$HAIL_BIN" HAIL_SITE_ROOT="$HAIL_SITE_ROOT" \
REDIS_URL="redis://127.0.0.1:$REDIS_PORT" HAIL_KEY_PREFIX=e2e HAIL_DEMO_DRIVERS=0 HAIL_DRAIN_SECS=5 HAIL_SIGNUPS_PER_IP=10000 \
  bash "$ROOT/scripts/fleet.sh" up 3 >"$LOGS/fleet-up.log" 2>&1 \
  || { cat "$LOGS/fleet-up.log" >&2; die "the fleet did not start"; }
export HAIL_FLEET_URL="http://127.0.0.1:$FLEET_PORT"

export HAIL_URL_A="http://127.0.0.1:$PORT_A"
export HAIL_URL_B="http://127.0.0.1:$PORT_B"
export HAIL_DEMO_URL_A="http://127.0.0.1:$PORT_DEMO_A"
export HAIL_DEMO_URL_B="http://127.0.0.1:$PORT_DEMO_B"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

# Playwright's globalSetup waits for both /healthz; its status is this script's status.
cd end2end
set +e
npx playwright test "$@"
status=$?
set -e
exit "$status"
