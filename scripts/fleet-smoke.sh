#!/usr/bin/env bash
# The smoke test of scripts/fleet.sh: a fleet of two instances behind nginx, in a throwaway state
# folder, on free ports, with its own private Redis (REDIS_URL points at a free port where nothing
# answers, so the fleet starts one; 6379 is never touched). Prints one `ok - ...` or
# `not ok - ...` line per check and exits non-zero when any check fails; the logs of a failed run
# are printed and kept.
#
#   ./scripts/fleet-smoke.sh                      # builds the release build first (as up would)
#   HAIL_FLEET_BUILD=0 ./scripts/fleet-smoke.sh   # use the release build that is there
#   HAIL_BIN=... HAIL_SITE_ROOT=... ./scripts/fleet-smoke.sh   # test another build
#
# The build is refreshed by default (fleet.sh's release build, about 40 s when nothing changed,
# minutes after an edit) so that the test runs today's code, not a release build left behind.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FLEET="$ROOT/scripts/fleet.sh"

die() { echo "fleet-smoke: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is missing (apt-get install -y curl)"
command -v python3 >/dev/null || die "python3 is missing (used to pick free ports)"

free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hail-fleet-smoke.XXXXXX")"
read -r FLEET_PORT REDIS_PORT < <(free_ports 2)
[[ "$REDIS_PORT" != 6379 ]] || die "the kernel picked 6379 as a free port; run again"
export HAIL_FLEET_DIR="$WORK/fleet"
export HAIL_FLEET_PORT="$FLEET_PORT"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" # nothing answers there: a private Redis starts
export HAIL_KEY_PREFIX=smoke
# Demo mode on, with two simulated drivers: one instance of the fleet leads them.
export HAIL_DEMO_DRIVERS=2
export HAIL_DRAIN_SECS="${HAIL_DRAIN_SECS:-5}"
unset HAIL_FLEET_REDIS
BALANCER="http://127.0.0.1:$FLEET_PORT"
JAR="$WORK/cookies.txt"
failures=0

cleanup() {
  local status=$?
  if [[ -d "$HAIL_FLEET_DIR/run" ]]; then
    "$FLEET" down >"$WORK/cleanup-down.log" 2>&1 || cat "$WORK/cleanup-down.log" >&2
  fi
  if [[ $status -ne 0 ]]; then
    local log
    for log in "$HAIL_FLEET_DIR"/logs/*.log; do
      [[ -f "$log" ]] || continue
      echo "----- last lines of $log -----" >&2
      tail -n 25 "$log" >&2
    done
    echo "fleet-smoke: failed (status $status); everything kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { echo "ok - $*"; }
not_ok() {
  echo "not ok - $1"
  shift
  local line
  for line in "$@"; do echo "#   $line"; done
  failures=$((failures + 1))
}
# A check the rest depends on: stop here.
fatal() {
  not_ok "$@"
  exit 1
}

# request NAME CURL_ARGS...: runs curl, keeping the answer in $WORK/NAME.{body,headers};
# sets CODE (000 when nothing answered).
request() {
  local name=$1
  shift
  CODE=$(curl -s --max-time 10 -o "$WORK/$name.body" -D "$WORK/$name.headers" -w '%{http_code}' "$@") || true
  [[ -n "$CODE" ]] || CODE=000
}

header() { # header NAME FIELD: a response header's value from the last request NAME
  sed -n "s/^$2: *//Ip" "$WORK/$1.headers" | tr -d '\r' | tail -n 1
}

json_field() { # json_field FILE FIELD
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null || true
}

# state_of NAME, pid_of NAME: columns of NAME's line in the status output kept in status.out.
state_of() { awk -v n="$1" '$1 == n { print $4 }' "$WORK/status.out"; }
pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$WORK/status.out"; }

# Gone, or a zombie waiting for its parent (pid 1 may reap late).
pid_gone() {
  [[ ! -e "/proc/$1" ]] || [[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" == Z ]]
}

listening() {
  python3 -c 'import socket, sys; s = socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

recorded_pids() {
  local f pid _
  for f in "$HAIL_FLEET_DIR"/run/*; do
    [[ -f "$f" ]] || continue
    read -r pid _ <"$f"
    echo "$pid"
  done
}

echo "# fleet-smoke: balancer on $FLEET_PORT, REDIS_URL on $REDIS_PORT (unused), state in $HAIL_FLEET_DIR"

# --- up ----------------------------------------------------------------------------------------
if [[ -z "${HAIL_BIN:-}" ]]; then
  export HAIL_FLEET_BUILD="${HAIL_FLEET_BUILD:-1}"
  [[ "$HAIL_FLEET_BUILD" != 1 ]] || echo "# the release build first (up to a few minutes after an edit)"
fi
if ! "$FLEET" up 2 >"$WORK/up.out" 2>&1; then
  cat "$WORK/up.out" >&2
  fatal "up 2"
fi
unset HAIL_FLEET_BUILD
ok "up 2 started"

# --- status ------------------------------------------------------------------------------------
set +e
"$FLEET" status >"$WORK/status.out" 2>&1
status_rc=$?
set -e
bad=()
for name in redis nginx hail-1 hail-2; do
  [[ "$(state_of "$name")" == ready ]] || bad+=("$name: '$(state_of "$name")'")
done
[[ "$(pid_of redis)" =~ ^[0-9]+$ ]] || bad+=("redis is not a private one (pid '$(pid_of redis)')")
if [[ $status_rc -eq 0 && ${#bad[@]} -eq 0 ]]; then
  ok "status: redis (private), nginx, hail-1, hail-2 all ready (exit 0)"
else
  fatal "status: redis, nginx, hail-1, hail-2 all ready" "exit $status_rc" "${bad[@]}" "$(cat "$WORK/status.out")"
fi
cp "$WORK/status.out" "$WORK/status-before.out"

# --- up again ----------------------------------------------------------------------------------
records_before=$(cat "$HAIL_FLEET_DIR"/run/*)
set +e
"$FLEET" up 2 >"$WORK/up-again.out" 2>&1
up_again_rc=$?
set -e
if [[ $up_again_rc -eq 1 && "$(cat "$HAIL_FLEET_DIR"/run/*)" == "$records_before" ]] \
  && "$FLEET" status >/dev/null 2>&1; then
  ok "a second up refuses (exit 1) and changes nothing"
else
  not_ok "a second up refuses (exit 1) and changes nothing" "exit $up_again_rc" "$(cat "$WORK/up-again.out")"
fi

# --- a session through the balancer ------------------------------------------------------------
email="rider-$$-$RANDOM@smoke.test"
request signup -c "$JAR" -b "$JAR" -H 'Accept: application/json' \
  --data-urlencode "name=Smoke Rider" --data-urlencode "email=$email" \
  --data-urlencode "password=correct horse battery" --data-urlencode "role=rider" \
  "$BALANCER/api/signup"
user_id=$(json_field "$WORK/signup.body" id)
if [[ "$CODE" == 200 && -n "$user_id" ]]; then
  ok "signed up a rider through the balancer (user $user_id)"
else
  fatal "sign up a rider through the balancer" "status $CODE" "$(head -c 300 "$WORK/signup.body")"
fi

declare -A seen=()
me_bad=()
for i in $(seq 1 10); do
  request "me-$i" -b "$JAR" -c "$JAR" "$BALANCER/api/me"
  got=$(json_field "$WORK/me-$i.body" id)
  [[ "$CODE" == 200 && "$got" == "$user_id" ]] || me_bad+=("request $i: status $CODE, user '$got'")
  instance=$(header "me-$i" x-hail-instance)
  seen[${instance:-none}]=1
done
if [[ ${#me_bad[@]} -eq 0 ]]; then
  ok "10 logged-in GET /api/me through the balancer: all 200, all the same user"
else
  not_ok "10 logged-in GET /api/me through the balancer: all 200, all the same user" "${me_bad[@]}"
fi
if [[ -n "${seen[hail-1]:-}" && -n "${seen[hail-2]:-}" ]]; then
  ok "round robin: x-hail-instance took both hail-1 and hail-2"
else
  not_ok "round robin: x-hail-instance took both hail-1 and hail-2" "seen: ${!seen[*]}"
fi

# Demo mode through the fleet: one instance leads (it holds the lease in Redis) and the simulated
# drivers show on the map of a rider served by any instance.
leaders=0 cars=0
for _ in $(seq 1 100); do
  leaders=$(grep -l "now simulates the demo drivers" "$HAIL_FLEET_DIR"/logs/hail-*.log 2>/dev/null | wc -l)
  request nearby -b "$JAR" "$BALANCER/api/nearby?lat=52.52&lng=13.40"
  if [[ "$CODE" == 200 ]]; then
    cars=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/nearby.body" 2>/dev/null || echo 0)
  fi
  [[ $leaders -ge 1 && $cars -ge 1 ]] && break
  sleep 0.2
done
"$FLEET" status >"$WORK/status.out" 2>&1 || true
lease=$(redis-cli -p "$(awk '$1 == "redis" { print $3 }' "$WORK/status.out")" \
  GET "$HAIL_KEY_PREFIX:demo:leader" 2>/dev/null || true)
if [[ $leaders -eq 1 && $cars -ge 1 && -n "$lease" ]]; then
  ok "demo mode: one leader among the instances, its $cars cars on the map through the balancer"
else
  not_ok "demo mode: one leader among the instances, its cars on the map through the balancer" \
    "instances that led: $leaders, cars seen: $cars, lease: ${lease:-none}"
fi

# A WebSocket handshake: Upgrade and Connection must pass through, and Host keep the port (the
# app compares Origin with Host). curl gives up after 3 s on the open socket, as intended.
request ws -b "$JAR" --max-time 3 -N \
  -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H "Origin: $BALANCER" "$BALANCER/ws"
if [[ "$CODE" == 101 ]]; then
  ok "a WebSocket upgrade through the balancer is accepted (101)"
else
  not_ok "a WebSocket upgrade through the balancer is accepted (101)" "status $CODE" "$(head -c 300 "$WORK/ws.body")"
fi

# --- what the balancer does itself -------------------------------------------------------------
request metrics-balancer "$BALANCER/metrics"
if [[ "$CODE" == 404 ]]; then
  ok "GET /metrics through the balancer is 404"
else
  not_ok "GET /metrics through the balancer is 404" "status $CODE"
fi

hail1_port=$(awk '$1 == "hail-1" { print $3 }' "$WORK/status.out")
request metrics-direct "http://127.0.0.1:$hail1_port/metrics"
if [[ "$CODE" == 200 ]] && grep -q '^hail_' "$WORK/metrics-direct.body"; then
  ok "GET /metrics on hail-1's own port is 200 with hail_ lines"
else
  not_ok "GET /metrics on hail-1's own port is 200 with hail_ lines" "status $CODE" \
    "$(grep -c '^hail_' "$WORK/metrics-direct.body" 2>/dev/null || true) hail_ lines"
fi

# Bodies. 60 KiB: under the app's 64 KiB cap but over nginx's in-memory body buffer, so nginx
# writes it to its client_body temp folder first; the app must get it and answer (400: the
# fields are nonsense), exactly as it does directly.
head -c 61440 /dev/zero | tr '\0' a >"$WORK/mid-body"
request mid-balancer -H 'Accept: application/json' --data-binary @"$WORK/mid-body" "$BALANCER/api/signup"
mid_balancer_code=$CODE
request mid-direct -H 'Accept: application/json' --data-binary @"$WORK/mid-body" "http://127.0.0.1:$hail1_port/api/signup"
if [[ "$mid_balancer_code" == "$CODE" && "$CODE" == 4* && "$CODE" != 413 ]] \
  && cmp -s "$WORK/mid-balancer.body" "$WORK/mid-direct.body"; then
  ok "a 60 KiB body reaches the app through the balancer (the app's $CODE, as directly)"
else
  not_ok "a 60 KiB body reaches the app through the balancer" \
    "through the balancer: $mid_balancer_code $(head -c 200 "$WORK/mid-balancer.body")" \
    "directly: $CODE $(head -c 200 "$WORK/mid-direct.body")"
fi

# 100 KiB: over the cap. nginx refuses it itself, every time, with JSON shaped like the app's
# refusals; and no instance is taken out of rotation by it.
head -c 102400 /dev/zero | tr '\0' a >"$WORK/big-body"
big_bad=()
for i in 1 2 3 4 5; do
  request "big-$i" -H 'Accept: application/json' --data-binary @"$WORK/big-body" "$BALANCER/api/signup"
  [[ "$CODE" == 413 ]] && [[ "$(json_field "$WORK/big-$i.body" kind)" == too_large ]] \
    || big_bad+=("try $i: $CODE $(head -c 200 "$WORK/big-$i.body")")
done
if [[ ${#big_bad[@]} -eq 0 ]]; then
  ok "a 100 KiB body is refused with a JSON 413, 5 times out of 5"
else
  not_ok "a 100 KiB body is refused with a JSON 413, 5 times out of 5" "${big_bad[@]}"
fi
declare -A after=()
after_bad=0
for i in $(seq 1 6); do
  request "after-big-$i" "$BALANCER/healthz"
  [[ "$CODE" == 200 ]] || after_bad=$((after_bad + 1))
  instance=$(header "after-big-$i" x-hail-instance)
  after[${instance:-none}]=1
done
if [[ $after_bad -eq 0 && -n "${after[hail-1]:-}" && -n "${after[hail-2]:-}" ]]; then
  ok "after the refused bodies both instances still serve (6 GET /healthz: all 200, hail-1 and hail-2)"
else
  not_ok "after the refused bodies both instances still serve" "$after_bad not 200; seen: ${!after[*]}"
fi

site_root=$(sed -n 's/^site_root=//p' "$HAIL_FLEET_DIR/fleet.env")
wasm=$(find "$site_root/pkg" -maxdepth 1 -name '*.wasm' | head -n 1)
if [[ -n "$wasm" ]]; then
  size=$(stat -c %s "$wasm")
  got=$(curl -s --max-time 30 -o /dev/null -w '%{http_code} %{size_download}' \
    -H 'Accept-Encoding: identity' "$BALANCER/pkg/$(basename "$wasm")" || true)
  if [[ "$got" == "200 $size" ]]; then
    ok "the WASM ($size bytes) comes through the balancer whole"
  else
    not_ok "the WASM ($size bytes) comes through the balancer whole" "got: $got"
  fi
else
  not_ok "the WASM comes through the balancer whole" "no .wasm in $site_root/pkg"
fi

# --- rolling restart under traffic -------------------------------------------------------------
old_pids=$(awk '$1 ~ /^hail-/ { print $2 }' "$WORK/status-before.out")
(
  # Logged-in reads all through the restart; every answer must be a 200.
  while [[ ! -e "$WORK/restart.done" ]]; do
    curl -s --max-time 10 -o /dev/null -w '%{http_code}\n' -b "$JAR" "$BALANCER/api/me" || echo 000
  done
) >"$WORK/during-restart.codes" 2>/dev/null &
traffic=$!
set +e
"$FLEET" restart >"$WORK/restart.out" 2>&1
restart_rc=$?
set -e
touch "$WORK/restart.done"
wait "$traffic" || true
if [[ $restart_rc -eq 0 ]]; then
  ok "restart (rolling) finished"
else
  not_ok "restart (rolling) finished" "exit $restart_rc" "$(tail -n 20 "$WORK/restart.out")"
fi

total=$(wc -l <"$WORK/during-restart.codes")
failed=$(grep -cv '^200$' "$WORK/during-restart.codes" || true)
if [[ $total -gt 0 && $failed -eq 0 ]]; then
  ok "no request failed during the rolling restart ($total requests)"
else
  not_ok "no request failed during the rolling restart" "$failed of $total were not 200:" \
    "$(sort "$WORK/during-restart.codes" | uniq -c | tr '\n' ' ')"
fi

set +e
"$FLEET" status >"$WORK/status.out" 2>&1
status_rc=$?
set -e
still=()
for pid in $old_pids; do
  pid_gone "$pid" || still+=("$pid")
done
new_pids=$(awk '$1 ~ /^hail-/ { print $2 }' "$WORK/status.out")
if [[ $status_rc -eq 0 && ${#still[@]} -eq 0 && -n "$new_pids" ]] \
  && [[ -z "$(comm -12 <(echo "$old_pids" | sort) <(echo "$new_pids" | sort))" ]]; then
  ok "after the restart: new instances, all ready, the old ones gone"
else
  not_ok "after the restart: new instances, all ready, the old ones gone" "status exit $status_rc" \
    "old pids still alive: ${still[*]:-none}" "$(cat "$WORK/status.out")"
fi

request me-after -b "$JAR" -c "$JAR" "$BALANCER/api/me"
if [[ "$CODE" == 200 && "$(json_field "$WORK/me-after.body" id)" == "$user_id" ]]; then
  ok "the session outlives the restart (it lives in Redis)"
else
  not_ok "the session outlives the restart (it lives in Redis)" "status $CODE" "$(head -c 200 "$WORK/me-after.body")"
fi

# --- down --------------------------------------------------------------------------------------
pids=$(recorded_pids)
set +e
"$FLEET" down >"$WORK/down.out" 2>&1
down_rc=$?
set -e
alive=()
for pid in $pids; do
  pid_gone "$pid" || alive+=("$pid")
done
if [[ $down_rc -eq 0 && ${#alive[@]} -eq 0 && -n "$pids" ]] && ! listening "$FLEET_PORT"; then
  ok "down stopped every recorded process ($(echo "$pids" | wc -l)) and port $FLEET_PORT is free"
else
  not_ok "down stopped every recorded process and freed port $FLEET_PORT" "exit $down_rc" \
    "still alive: ${alive[*]:-none}" "$(cat "$WORK/down.out")"
fi
if [[ -s "$HAIL_FLEET_DIR/logs/hail-1.log" && -d "$HAIL_FLEET_DIR/redis/appendonlydir" \
  && ! -e "$HAIL_FLEET_DIR/run" ]]; then
  ok "down kept the logs and the Redis data, and removed the pid records"
else
  not_ok "down kept the logs and the Redis data, and removed the pid records" \
    "$(find "$HAIL_FLEET_DIR" -maxdepth 2 | head -n 20)"
fi

set +e
"$FLEET" down >/dev/null 2>&1
again_rc=$?
"$FLEET" status >/dev/null 2>&1
status_rc=$?
set -e
if [[ $again_rc -eq 0 && $status_rc -eq 3 ]]; then
  ok "down again is a no-op (exit 0); status then says no fleet (exit 3)"
else
  not_ok "down again is a no-op (exit 0); status then says no fleet (exit 3)" \
    "down exit $again_rc, status exit $status_rc"
fi

if [[ $failures -gt 0 ]]; then
  echo "fleet-smoke: $failures check(s) failed" >&2
  exit 1
fi
echo "# fleet-smoke: all checks passed"
