#!/usr/bin/env bash
# The cost benchmark: starts its own redis-server and two release instances of Hail (separate
# processes, free ports), drives them with hail-loadgen and writes the tables between the
# `bench:begin` and `bench:end` markers of BENCHMARKS.md from the JSON lines it collects in
# target/bench/results.jsonl. 15 to 20 minutes on this 2-core machine, a sixth of it Argon2 sign-ups and a third builds.
#
#   ./scripts/bench.sh                  # everything, the numbers go into BENCHMARKS.md
#   BENCH_QUICK=1 ./scripts/bench.sh    # small sizes, a couple of minutes, BENCHMARKS.md untouched
#   HAIL_BIN=path/to/hail ./scripts/bench.sh   # measure another build (e.g. an older commit)
#   BENCH_ONLY=rides ./scripts/bench.sh        # one scenario: rides, idle, session, page, wasm
#   BENCH_ONLY=profile ./scripts/bench.sh      # a CPU profile of both instances at 10,000/s
#                                              # (linux-perf; a flamegraph with inferno)
#   BENCH_ONLY=burst BENCH_RUNS=4 ./scripts/bench.sh   # positions during a login burst, 4 times
#   BENCH_ONLY=nearby ./scripts/bench.sh       # free cars pushed per map cell: 1000 free drivers,
#                                              # without and then with 200 riders watching
#                                              # (BENCH_NEARBY_PROFILE=1: perf on A meanwhile)
#   BENCH_REDIS=cluster BENCH_ONLY=rides ./scripts/bench.sh   # on a six-node Redis Cluster
#                                              # (3 primaries, a replica each) instead of one node
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

quick=${BENCH_QUICK:-}
only=${BENCH_ONLY:-}
topology=${BENCH_REDIS:-node}
case "$topology" in node | cluster) ;; *) echo "BENCH_REDIS is node or cluster" >&2; exit 2 ;; esac
out=target/bench
mkdir -p "$out"
results="$out/results${quick:+-quick}.jsonl"
: >"$results"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '[bench] %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# profile and burst run only when asked for.
wants() { [ -z "$only" ] && [ "$1" != profile ] && [ "$1" != burst ] && [ "$1" != nearby ] || [ "$only" = "$1" ]; }

say "building the release server and the load generator"
cargo build --release --features ssr --bins
bin=${HAIL_BIN:-target/release/hail}
loadgen=target/release/hail-loadgen

# A port whose cluster bus port (10000 above it) is free too.
free_cluster_port() {
  python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if p < 55000:
        try:
            socket.socket().bind(("127.0.0.1", p + 10000)); print(p); break
        except OSError:
            pass'
}
declare -A redis_pids
redis_node() { # PORT [ARGS...]: one redis-server in its own directory
  local p=$1
  shift
  mkdir -p "$work/redis-$p"
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/redis-$p" "$@" \
    >"$work/redis-$p.log" 2>&1 &
  redis_pids[$p]=$!
  pids+=($!)
  until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.1; done
}
redis_env=()
replica_pid=
if [ "$topology" = cluster ]; then
  cluster_ports=()
  for _ in 1 2 3 4 5 6; do
    p=$(free_cluster_port)
    redis_node "$p" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000
    cluster_ports+=("$p")
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") --cluster-replicas 1 \
    --cluster-yes >"$work/cluster-create.log"
  for p in "${cluster_ports[@]}"; do
    until redis-cli -p "$p" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
  done
  # Every key and channel of the instances' region ({r:demo}) is on one primary, replicated to
  # one replica: that pair is what the benchmark's Redis costs.
  read -r redis_port replica_port < <(redis-cli -p "${cluster_ports[0]}" cluster nodes | python3 -c '
import sys
slot = int(sys.argv[1])
nodes = [line.split() for line in sys.stdin]
def owns(n):
    for r in n[8:]:
        a, _, b = r.partition("-")
        if a.isdigit() and int(a) <= slot <= int(b or a):
            return True
primary = next(n for n in nodes if "master" in n[2] and owns(n))
replica = next(n for n in nodes if "slave" in n[2] and n[3] == primary[0])
port = lambda n: n[1].split("@")[0].split(":")[1]
print(port(primary), port(replica))' "$(redis-cli -p "${cluster_ports[0]}" cluster keyslot '{r:demo}')")
  until redis-cli -p "$replica_port" info replication | grep -q master_link_status:up; do sleep 0.1; done
  redis_pid=${redis_pids[$redis_port]}
  replica_pid=${redis_pids[$replica_port]}
  redis_env=(REDIS_CLUSTER_NODES="$(printf '127.0.0.1:%s,' "${cluster_ports[@]}" | sed 's/,$//')")
  say "a Redis Cluster on ${cluster_ports[*]}; the region's primary is $redis_port, its replica $replica_port"
else
  redis_port=$(free_port)
  redis_node "$redis_port"
  redis_pid=${redis_pids[$redis_port]}
fi
flush_redis() {
  if [ "$topology" = cluster ]; then
    for p in "${cluster_ports[@]}"; do redis-cli -p "$p" flushall >/dev/null 2>&1 || true; done
  else
    redis-cli -p "$redis_port" flushall >/dev/null
  fi
}

# Positions per driver: the phases go up to 12.5 a second, so the limit is raised to 15 (by
# configuration, as an operator would; the checks themselves stay on). Every rider and driver
# signs up from 127.0.0.1, so the sign-up limit per address is raised too.
declare -A port pid
start_instance() {
  local name=$1
  port[$name]=$(free_port)
  LEPTOS_SITE_ADDR="127.0.0.1:${port[$name]}" LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=hail \
    REDIS_URL="redis://127.0.0.1:$redis_port" RUST_LOG=warn HAIL_KEY_PREFIX=bench \
    HAIL_POSITIONS_PER_SEC=15 HAIL_SIGNUPS_PER_IP=1000000 HAIL_WORKER_THREADS=${HAIL_WORKER_THREADS:-1} \
    env "${redis_env[@]}" "$bin" >"$work/$name.log" 2>&1 &
  pid[$name]=$!
  pids+=("${pid[$name]}")
  until curl -sf "http://127.0.0.1:${port[$name]}/readyz" >/dev/null; do sleep 0.1; done
}
stop_instance() {
  kill "${pid[$1]}" 2>/dev/null || true
  wait "${pid[$1]}" 2>/dev/null || true
}
fresh_pair() {
  for name in a b; do [ -n "${pid[$name]:-}" ] && stop_instance "$name"; done
  flush_redis
  start_instance a
  start_instance b
}
url() { echo "http://127.0.0.1:${port[$1]}"; }
measured() {
  echo --pid "hail-a=${pid[a]}" --pid "hail-b=${pid[b]}" --pid "redis=$redis_pid" \
    ${replica_pid:+--pid "redis-replica=$replica_pid"}
}

if [ -n "$quick" ]; then
  rides=100 idle=200 sockets=500 secs=5 pairs=25 pages=200
  phases=(--phase "50x1:$secs" --phase "50x5:$secs" --phase "100x5:$secs" --phase "100x10:$secs")
  burst=(--phase "50x5:$((secs + 5))" --login-burst 20)
else
  rides=2000 idle=6000 sockets=5000 secs=20 pairs=250 pages=2000
  phases=(--phase 1000x1:30 --phase 1000x5:30 --phase 2000x5:30 --phase 2000x7.5:20
    --phase 2000x10:20 --phase 2000x12.5:20)
  burst=(--phase 1000x5:20 --login-burst 100)
fi

if wants rides; then
  say "rides: $rides rides, $idle idle sockets, then the phases (riders on A, drivers on B)"
  fresh_pair
  # shellcheck disable=SC2046
  "$loadgen" rides --label rides --rider-url "$(url a)" --driver-url "$(url b)" \
    --rides "$rides" --idle "$idle" "${phases[@]}" "${burst[@]}" $(measured) >>"$results"
fi
if wants burst; then
  # The rides scenario's last phase alone, BENCH_RUNS times (default 1), on a fresh pair each
  # time: for paired runs of two settings or builds (HAIL_BIN, HAIL_* settings, ...).
  for run in $(seq "${BENCH_RUNS:-1}"); do
    say "burst, run $run: 1000 rides x 5/s for 20 s, 100 logins at once 5 s in"
    fresh_pair
    # shellcheck disable=SC2046
    "$loadgen" rides --label burst --rider-url "$(url a)" --driver-url "$(url b)" \
      --rides 1000 "${burst[@]}" $(measured) >>"$results"
  done
fi
if wants idle; then
  say "idle: $sockets logged-in sockets over A and B"
  fresh_pair
  # shellcheck disable=SC2046
  "$loadgen" idle --label idle --url "$(url a)" --url "$(url b)" --sockets "$sockets" \
    $(measured) >>"$results"
fi
if wants session; then
  say "session: saved on A, read on B, 16 clients"
  fresh_pair
  # shellcheck disable=SC2046
  "$loadgen" session --label session --write-url "$(url a)" --read-url "$(url b)" \
    --concurrency 16 --requests "$pairs" $(measured) >>"$results"
fi
if wants page; then
  say "page: /rider, one request at a time"
  fresh_pair
  # shellcheck disable=SC2046
  "$loadgen" page --label page --url "$(url a)" --path /rider --requests "$pages" \
    --concurrency 1 $(measured) >>"$results"
fi
if [ "$only" = nearby ]; then
  # Free drivers on B over the whole city, a position a second each; measured alone, then with
  # riders' sockets on A and B watching every cell.
  drivers=${BENCH_NEARBY_DRIVERS:-1000} watchers=${BENCH_NEARBY_WATCHERS:-200}
  [ -n "$quick" ] && drivers=100 watchers=20
  say "nearby: $drivers free drivers on B, then $watchers riders watching every cell over A and B"
  fresh_pair
  # shellcheck disable=SC2046
  "$loadgen" nearby --label nearby --driver-url "$(url b)" --watch-url "$(url a)" --watch-url "$(url b)" \
    --drivers "$drivers" --watchers "$watchers" --secs "${BENCH_NEARBY_SECS:-20}" \
    --redis-url "redis://127.0.0.1:$redis_port" $(measured) >>"$results" 2>"$work/loadgen.err" &
  lg=$!
  if [ -n "${BENCH_NEARBY_PROFILE:-}" ]; then
    # 10 s of the watching half, on the riders' instance A: where the fan-out goes.
    command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
    until grep -q "riders start watching" "$work/loadgen.err"; do sleep 0.5; done
    sleep 6
    perf record -F 499 --call-graph dwarf,16384 -p "${pid[a]}" -o "$work/perf.data" -- sleep 10 \
      2>"$work/perf.err" >&2
    perf script -i "$work/perf.data" -F comm,pid,tid,time,event,ip,sym,dso 2>/dev/null >"$work/perf.script"
    python3 benches/profile_summary.py "hail-a=${pid[a]}" <"$work/perf.script" >"$out/profile-nearby.summary.txt"
    say "profile of A while riders watch: $out/profile-nearby.summary.txt"
  fi
  wait "$lg" || { cat "$work/loadgen.err" >&2; exit 1; }
fi
if [ "$only" = profile ]; then
  # 1000 rides x 10/s: 10,000 positions a second, sampled for 15 s once the phase runs.
  say "profile: 1000 rides at 10 positions a second each, perf on both instances"
  command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
  fresh_pair
  label=$(basename "$bin")
  # shellcheck disable=SC2046
  "$loadgen" rides --label profile --rider-url "$(url a)" --driver-url "$(url b)" \
    --rides 1000 --phase 1000x10:30 $(measured) >>"$results" 2>"$work/loadgen.err" &
  lg=$!
  until grep -q "^phase 1" "$work/loadgen.err"; do sleep 0.5; done
  sleep 3
  perf record -F 499 --call-graph dwarf,16384 -p "${pid[a]},${pid[b]},$redis_pid" \
    -o "$work/perf.data" -- sleep 15 2>"$work/perf.err" >&2
  wait "$lg"
  # Flat: where the samples land, per process (the instances' threads are all tokio-rt-worker).
  perf report -i "$work/perf.data" --stdio --no-children --sort pid,dso,symbol -g none \
    --percent-limit 0.5 >"$out/profile-$label.txt" 2>/dev/null
  perf script -i "$work/perf.data" -F comm,pid,tid,time,event,ip,sym,dso 2>/dev/null >"$work/perf.script"
  python3 benches/profile_summary.py "hail-a=${pid[a]}" "hail-b=${pid[b]}" "redis=$redis_pid" \
    <"$work/perf.script" >"$out/profile-$label.summary.txt"
  gzip -c "$work/perf.script" >"$out/profile-$label.script.gz"
  if command -v inferno-collapse-perf >/dev/null; then
    inferno-collapse-perf <"$work/perf.script" >"$out/profile-$label.folded"
    inferno-flamegraph --title "hail-a + hail-b + redis at 10,000 positions/s ($label)" \
      <"$out/profile-$label.folded" >"$out/profile-$label.svg"
  fi
  say "profile in $out/profile-$label.*"
fi
if wants wasm && cargo leptos --version >/dev/null 2>&1; then
  say "wasm: the release build's size"
  cargo leptos build --release >&2
  wasm=$(ls target/site/pkg/*.wasm | head -1)
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  br=$(if command -v brotli >/dev/null; then brotli -c -q 11 "$wasm" | wc -c; else echo null; fi)
  echo "{\"mode\":\"wasm\",\"file\":\"$wasm\",\"raw\":$raw,\"gzip\":$gz,\"brotli\":$br}" >>"$results"
fi

say "results in $results"
if [ -z "$quick" ] && [ -z "$only" ] && [ "$topology" = node ]; then
  python3 scripts/bench_tables.py "$results" BENCHMARKS.md "$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
  say "BENCHMARKS.md updated"
else
  python3 scripts/bench_tables.py "$results" - ""
fi
