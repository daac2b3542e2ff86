#!/usr/bin/env bash
# A local fleet: N release instances of Hail behind nginx, sharing one Redis, as plain background
# processes (no systemd, no docker). For trying scale-out by hand: sessions, live sockets and
# rides that cross instances, a rolling restart under load.
#
#   ./scripts/fleet.sh up [N]    # N instances (default 3, at most 32), then http://127.0.0.1:8080
#   ./scripts/fleet.sh status    # one line per process: <name> <pid> <port> <state>
#   ./scripts/fleet.sh restart   # rolling: replace the instances one at a time, nginx keeps serving
#   ./scripts/fleet.sh down      # stop everything this script started (logs and Redis data stay)
#
# Settings (environment):
#   HAIL_FLEET_DIR    state folder (default .run/fleet; relative paths are from the repo root)
#   HAIL_FLEET_PORT   the balancer's port on 127.0.0.1 (default 8080)
#   HAIL_FLEET_REDIS  auto (default): use the Redis at REDIS_URL when it answers PING, else start
#                     a private one; private: always start a private one; external: REDIS_URL
#                     must answer
#   HAIL_FLEET_BUILD  1: run the release build even when one is there (up and restart; restart
#                     is how a new build is rolled out). Otherwise `up` builds only when the
#                     binary or the site files are missing
#   HAIL_BIN          server binary (default target/release/hail; when set, nothing is built)
#   HAIL_SITE_ROOT    site files (default target/fleet-site, see below)
#   REDIS_URL         default redis://127.0.0.1:6379; an external Redis is never started,
#                     stopped or flushed
#   HAIL_*            every other HAIL_ variable (and RUST_LOG) is passed to the instances, e.g.
#                     HAIL_DEMO_DRIVERS, HAIL_KEY_PREFIX, HAIL_DRAIN_SECS. They are recorded at
#                     `up`, so a `restart` starts the replacements with the same settings.
#                     HAIL_DRAIN_SECS (default 10) also bounds how long down/restart wait for an
#                     instance to exit (plus 5 s) before a SIGKILL. HAIL_WORKER_THREADS defaults
#                     to 1 when N is at least the machine's cores (one instance per core).
#
# The build is `LEPTOS_SITE_ROOT=target/fleet-site cargo leptos build --release`: the release
# site files get a folder of their own, because debug builds (`cargo leptos build`, `watch`,
# scripts/test.sh) write target/site, and a release server must not serve debug WASM, nor two
# builds write one folder at once.
#
# Each instance gets HAIL_INSTANCE_NAME=hail-<i> (its answers carry `x-hail-instance`) and
# HAIL_TRUSTED_PROXIES=127.0.0.1 (only the local balancer). nginx keeps /metrics to itself: it
# answers 404 there, so the metrics are read on each instance's own port (see `status`).
#
# State ($HAIL_FLEET_DIR):
#   fleet.env        what `up` chose: size, balancer port, Redis, binary, site root
#   instance.env     the HAIL_* settings recorded at `up` (NUL-separated NAME=VALUE)
#   run/<name>       one record per running process: "<pid> <port> <generation>"
#   logs/            hail-<i>.log (a restart writes hail-<i>.<generation>.log), redis.log,
#                    nginx-error.log, nginx-access.log
#   nginx/           nginx's prefix: nginx.conf (generated), nginx.pid, temp folders
#   redis/           the private Redis's data (append-only file)
# `down` removes run/, fleet.env and instance.env; logs and Redis data stay.
#
# status: an instance is `ready` when its /readyz answers 200, nginx when /healthz answers 200
# through it, a private Redis when it answers PING; `not-ready` otherwise, `stopped` when the
# process is gone. An external Redis is listed with pid `-`. Exit 0 when everything is ready,
# 1 when not, 3 when no fleet is recorded.
#
# Exit codes: 0 done; 1 failed (a fleet already runs, a port is taken, a process did not become
# ready: whatever was started is stopped again); 2 bad usage; 3 no fleet recorded (status, restart).
# Linux only (reads /proc to make sure a recorded pid is still the process it was).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# cargo-leptos, wasm-bindgen and wasm-opt, as scripts/setup.sh installs them.
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

MAX_SIZE=32
DEFAULT_SIZE=3
NGINX=/usr/sbin/nginx

FLEET_DIR="${HAIL_FLEET_DIR:-.run/fleet}"
[[ "$FLEET_DIR" == /* ]] || FLEET_DIR="$ROOT/$FLEET_DIR"
RUN_DIR="$FLEET_DIR/run"
LOG_DIR="$FLEET_DIR/logs"
NGINX_DIR="$FLEET_DIR/nginx"
REDIS_DIR="$FLEET_DIR/redis"
FLEET_ENV="$FLEET_DIR/fleet.env"
INSTANCE_ENV="$FLEET_DIR/instance.env"

say() { printf '[fleet] %s\n' "$*"; }
warn() { printf 'fleet: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }
die_usage() { warn "$*"; exit 2; }

usage() {
  cat >&2 <<EOF
usage: ./scripts/fleet.sh up [N] | down | status | restart
  up [N]    start N instances of Hail (default $DEFAULT_SIZE, at most $MAX_SIZE) behind nginx
  status    one line per process: <name> <pid> <port> <state>
  restart   replace the instances one at a time (a rolling restart)
  down      stop everything the fleet started
State lives in ${HAIL_FLEET_DIR:-.run/fleet}; see the top of this script for the settings.
EOF
  exit 2
}

# ---------------------------------------------------------------------------------------------
# Small helpers

need() {
  command -v "$1" >/dev/null || die "$1 is missing ($2)"
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# COUNT distinct free ports on 127.0.0.1, chosen by the kernel (all bound at once, so none repeats).
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

# Whether PORT can be listened on at 127.0.0.1 the way nginx does it (SO_REUSEADDR, so sockets
# in TIME_WAIT from an earlier run do not count). Prints the reason when it cannot.
port_available() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen(1)
except OSError as e:
    print(e.strerror or e)
    sys.exit(1)
finally:
    s.close()
PY
}

# The HTTP status of a GET (000 when nothing answers within 2 s).
http_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

# Whether PID is alive and still the process we started (its command line holds WORD). A zombie
# has an empty command line, and a pid reused by another program after a reboot does not match.
pid_is() {
  local pid=$1 word=$2 cmdline
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ "$cmdline" == *"$word"* ]]
}

# What a process's command line holds, by its name.
word_of() {
  case "$1" in
    redis) echo redis-server ;;
    nginx) echo nginx ;;
    *) echo "$BIN" ;;
  esac
}

redis_ping() {
  [[ "$(timeout 3 redis-cli -u "$1" ping 2>/dev/null)" == "PONG" ]]
}

# Host and port of a redis:// URL (for messages and the status line).
redis_hostport() {
  local hostport=${1#*://}
  hostport=${hostport##*@}
  hostport=${hostport%%/*}
  [[ "$hostport" == *:* ]] || hostport="$hostport:6379"
  echo "$hostport"
}

# ---------------------------------------------------------------------------------------------
# Records: run/<name> holds "<pid> <port> <generation>"; fleet.env what `up` chose.

record_write() {
  local name=$1 pid=$2 port=$3 gen=$4
  mkdir -p "$RUN_DIR"
  printf '%s %s %s\n' "$pid" "$port" "$gen" >"$RUN_DIR/$name.tmp"
  mv "$RUN_DIR/$name.tmp" "$RUN_DIR/$name"
}

# Sets R_PID, R_PORT, R_GEN from run/<name>; fails when there is no record.
record_read() {
  R_PID='' R_PORT='' R_GEN=''
  [[ -f "$RUN_DIR/$1" ]] || return 1
  read -r R_PID R_PORT R_GEN <"$RUN_DIR/$1" || true
  [[ -n "$R_PID" ]]
}

# Record names in order: redis, nginx, hail-1..hail-N.
record_names() {
  [[ -d "$RUN_DIR" ]] || return 0
  local f
  for f in redis nginx; do [[ -f "$RUN_DIR/$f" ]] && echo "$f"; done
  find "$RUN_DIR" -maxdepth 1 -type f -name 'hail-*' ! -name '*.tmp' -printf '%f\n' | sort -V
}

fleet_recorded() {
  [[ -f "$FLEET_ENV" ]] || [[ -n "$(record_names)" ]]
}

# Whether any recorded process is still alive.
any_alive() {
  local name
  for name in $(record_names); do
    record_read "$name" || continue
    pid_is "$R_PID" "$(word_of "$name")" && return 0
  done
  return 1
}

save_fleet_env() {
  cat >"$FLEET_ENV.tmp" <<EOF
size=$SIZE
port=$PORT
redis_mode=$REDIS_MODE
redis_url=$REDIS_URL_USED
bin=$BIN
site_root=$SITE_ROOT
drain_secs=$DRAIN_SECS
ws_ping_secs=$WS_PING_SECS
EOF
  mv "$FLEET_ENV.tmp" "$FLEET_ENV"
}

# Reads fleet.env (key=value; values are not evaluated).
load_fleet_env() {
  [[ -f "$FLEET_ENV" ]] || return 1
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      size) SIZE=$value ;;
      port) PORT=$value ;;
      redis_mode) REDIS_MODE=$value ;;
      redis_url) REDIS_URL_USED=$value ;;
      bin) BIN=$value ;;
      site_root) SITE_ROOT=$value ;;
      drain_secs) DRAIN_SECS=$value ;;
      ws_ping_secs) WS_PING_SECS=$value ;;
    esac
  done <"$FLEET_ENV"
}

# One fleet.sh at a time per state folder. The lock's descriptor is closed in every process the
# fleet starts (see spawn), or a long-lived instance would hold the lock forever.
take_lock() {
  mkdir -p "$FLEET_DIR"
  exec 9>"$FLEET_DIR/lock"
  flock -n 9 || die "another fleet.sh is working on $FLEET_DIR; try again when it is done"
}

# ---------------------------------------------------------------------------------------------
# Settings for the instances

# Every HAIL_* (and RUST_LOG) the caller exported, except the fleet's own settings and the two
# the fleet sets per instance.
passthrough_names() {
  compgen -e | grep -E '^(HAIL_|RUST_LOG$)' \
    | grep -vE '^(HAIL_FLEET_.*|HAIL_BIN|HAIL_SITE_ROOT|HAIL_INSTANCE_NAME|HAIL_TRUSTED_PROXIES)$' \
    || true
}

record_instance_env() {
  local name
  : >"$INSTANCE_ENV"
  for name in $(passthrough_names); do
    printf '%s=%s\0' "$name" "${!name}" >>"$INSTANCE_ENV"
  done
}

# ---------------------------------------------------------------------------------------------
# Processes

# spawn LOG CMD...: starts CMD in its own session (so a Ctrl-C or a job kill aimed at the caller
# does not reach it), stdin from /dev/null, output appended to LOG, and sets SPAWNED_PID. The
# process writes its own pid before it execs CMD, so the pid is CMD's whatever setsid does.
spawn() {
  local log=$1
  shift
  local pidfile="$RUN_DIR/.spawn.$$"
  mkdir -p "$RUN_DIR"
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $$ and $0 belong to the inner shell
  setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$log" 2>&1 9>&- &
  local _
  for _ in $(seq 1 50); do
    [[ -s "$pidfile" ]] && break
    sleep 0.1
  done
  [[ -s "$pidfile" ]] || die "could not start $1 (see $log)"
  SPAWNED_PID=$(<"$pidfile")
  rm -f "$pidfile"
}

# stop NAME PID SECS: SIGTERM, then up to SECS for the process to go, then SIGKILL.
stop() {
  pid_is "$2" "$(word_of "$1")" || return 0
  kill -TERM "$2" 2>/dev/null || true
  await_exit "$1" "$2" "$((SECONDS + $3))"
}

# exiting PID: the process is on its way out. Its command line empties when it lets go of its
# memory, before its files and sockets are closed and before it is a zombie.
exiting() {
  [[ -e "/proc/$1" && -z "$(tr -d '\0' 2>/dev/null <"/proc/$1/cmdline")" ]] || return 1
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# await_exit NAME PID DEADLINE: waits until the process is gone (or a zombie) or SECONDS reaches
# DEADLINE, then SIGKILLs it.
await_exit() {
  local name=$1 pid=$2 deadline=$3 word
  word=$(word_of "$name")
  while { pid_is "$pid" "$word" || exiting "$pid"; } && ((SECONDS < deadline)); do
    sleep 0.1
  done
  pid_is "$pid" "$word" || return 0
  warn "$name (pid $pid) still runs: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 50); do
    pid_is "$pid" "$word" || return 0
    sleep 0.1
  done
  warn "$name (pid $pid) survived SIGKILL"
}

# The last lines a log got since its latest "=====" start line (logs are appended to).
show_log() {
  local log=$1
  [[ -f "$log" ]] || return 0
  echo "----- last lines of $log -----" >&2
  awk '/^===== / { n = 0 } { lines[n++] = $0 } END { for (i = (n > 30 ? n - 30 : 0); i < n; i++) print lines[i] }' "$log" >&2
  echo "-----" >&2
}

# ---------------------------------------------------------------------------------------------
# The pieces

check_tools() {
  need curl "apt-get install -y curl"
  need python3 "used to pick free ports"
  need setsid "util-linux"
  need flock "util-linux"
  need redis-cli "apt-get install -y redis-server"
  [[ -x "$NGINX" ]] || die "$NGINX is missing: run scripts/setup.sh (or apt-get install -y nginx)"
}

# The server binary and the site files; builds them when asked or missing.
ensure_build() {
  local bin=${HAIL_BIN:-target/release/hail}
  local site=${HAIL_SITE_ROOT:-target/fleet-site}
  if [[ -z "${HAIL_BIN:-}" ]]; then
    if [[ "${HAIL_FLEET_BUILD:-}" == 1 || ! -x "$bin" || ! -f "$site/pkg/hail.js" ]]; then
      cargo leptos --version >/dev/null 2>&1 \
        || die "cargo-leptos is missing: run scripts/setup.sh (or set HAIL_BIN and HAIL_SITE_ROOT)"
      say "building the release build, site files in $site (cargo leptos build --release)"
      LEPTOS_SITE_ROOT="$site" cargo leptos build --release || die "the release build failed"
    fi
  fi
  [[ -x "$bin" ]] || die "no server binary at $bin (HAIL_BIN)"
  [[ -f "$site/pkg/hail.js" ]] \
    || die "no site files in $site/pkg; run \`cargo leptos build --release\` (or set HAIL_SITE_ROOT)"
  BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
  SITE_ROOT="$(cd "$site" && pwd)"
}

start_redis() {
  local url=${REDIS_URL:-redis://127.0.0.1:6379}
  local mode=${HAIL_FLEET_REDIS:-auto}
  if [[ "$mode" != private ]] && redis_ping "$url"; then
    REDIS_MODE=external
    REDIS_URL_USED=$url
    say "redis: using the Redis that answers at $(redis_hostport "$url") (not started or stopped by the fleet)"
    return 0
  fi
  [[ "$mode" != external ]] || die "nothing answers PING at $(redis_hostport "$url") (REDIS_URL) and HAIL_FLEET_REDIS=external"
  need redis-server "apt-get install -y redis-server"
  local port
  read -r port < <(free_ports 1)
  mkdir -p "$REDIS_DIR"
  say "redis: starting a private redis-server on 127.0.0.1:$port, data in $REDIS_DIR"
  spawn "$LOG_DIR/redis.log" redis-server --port "$port" --bind 127.0.0.1 --dir "$REDIS_DIR" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --save ""
  record_write redis "$SPAWNED_PID" "$port" 1
  REDIS_MODE=private
  REDIS_URL_USED="redis://127.0.0.1:$port"
  local _
  for _ in $(seq 1 100); do
    redis_ping "$REDIS_URL_USED" && return 0
    pid_is "$SPAWNED_PID" redis-server || { show_log "$LOG_DIR/redis.log"; die "redis-server exited at start"; }
    sleep 0.1
  done
  show_log "$LOG_DIR/redis.log"
  die "redis-server did not answer PING within 10 s"
}

# start_instance NAME GEN PORT: a new instance; sets SPAWNED_PID, SPAWNED_PORT and SPAWNED_LOG.
# Its environment is the recorded one, not whatever the caller has now.
start_instance() {
  local name=$1 gen=$2 port=$3 log
  if [[ "$gen" == 1 ]]; then log="$LOG_DIR/$name.log"; else log="$LOG_DIR/$name.$gen.log"; fi
  local -a envargs=(env)
  local var entry
  for var in $(passthrough_names); do envargs+=(-u "$var"); done
  if [[ -f "$INSTANCE_ENV" ]]; then
    while IFS= read -r -d '' entry; do envargs+=("$entry"); done <"$INSTANCE_ENV"
  fi
  envargs+=(
    LEPTOS_OUTPUT_NAME=hail
    "LEPTOS_SITE_ROOT=$SITE_ROOT"
    "LEPTOS_SITE_ADDR=127.0.0.1:$port"
    "REDIS_URL=$REDIS_URL_USED"
    "HAIL_INSTANCE_NAME=$name"
    HAIL_TRUSTED_PROXIES=127.0.0.1
  )
  printf '===== %s: %s (generation %s) on 127.0.0.1:%s =====\n' "$(date '+%F %T')" "$name" "$gen" "$port" >>"$log"
  spawn "$log" "${envargs[@]}" "$BIN"
  SPAWNED_PORT=$port
  SPAWNED_LOG=$log
}

# wait_ready NAME PID PORT LOG: until /readyz answers 200 (60 s); fails when the process dies.
wait_ready() {
  local name=$1 pid=$2 port=$3 log=$4 deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    [[ "$(http_code "http://127.0.0.1:$port/readyz")" == 200 ]] && return 0
    if ! pid_is "$pid" "$BIN"; then
      show_log "$log"
      warn "$name exited before it was ready (log: $log)"
      return 1
    fi
    sleep 0.1
  done
  show_log "$log"
  warn "$name did not answer 200 on /readyz within 60 s (log: $log)"
  return 1
}

# The balancer's configuration, from the instances' records, checked with `nginx -t` before it
# replaces the current one. Fails (without exiting) when nginx refuses it.
write_nginx_conf() {
  local conf="$NGINX_DIR/nginx.conf" upstreams='' i user_line='' ws_timeout
  mkdir -p "$NGINX_DIR"/tmp/{client_body,proxy,fastcgi,uwsgi,scgi} "$LOG_DIR"
  for i in $(seq 1 "$SIZE"); do
    record_read "hail-$i" || { warn "no record for hail-$i"; return 1; }
    # During a restart, the instances not yet replaced are backups: new connections (among them
    # the sockets of the instance being drained, coming back) go to replaced ones only, so a
    # client is moved once, not once per instance.
    if [[ -n "${RESTART_FRESH:-}" && " $RESTART_FRESH " != *" hail-$i "* ]]; then
      upstreams+="        server 127.0.0.1:$R_PORT max_fails=0 backup;  # hail-$i, to be replaced"$'\n'
    else
      upstreams+="        server 127.0.0.1:$R_PORT max_fails=0;  # hail-$i"$'\n'
    fi
  done
  # As root, nginx's workers would run as `nobody`, who cannot enter a private (0700) state
  # folder such as the one mktemp -d makes: a request body over 16 KiB, or a response too big
  # for memory, is buffered to a temp folder and would fail (500, or a cut-off download). The
  # workers run as the user who runs the fleet instead.
  if [[ $EUID -eq 0 ]]; then
    user_line="user root $(id -gn);"
  fi
  # Long enough for a quiet live socket: the app pings every HAIL_WS_PING_SECS (default 20).
  ws_timeout=$((WS_PING_SECS * 3 > 75 ? WS_PING_SECS * 3 : 75))
  cat >"$conf.tmp" <<EOF
# Generated by scripts/fleet.sh (rewritten at every restart): edits are lost.
$user_line
worker_processes 1;
pid "$NGINX_DIR/nginx.pid";
# notice: reloads ("start worker process") are logged; restart waits for that line.
error_log "$LOG_DIR/nginx-error.log" notice;
# After a reload, old workers keep their open WebSockets at most this long.
worker_shutdown_timeout 30s;

events {
    worker_connections 4096;
}

http {
    server_tokens off;
    # Debian's nginx has /var/lib/nginx/* compiled in: every temp path lives in the prefix.
    client_body_temp_path "$NGINX_DIR/tmp/client_body";
    proxy_temp_path "$NGINX_DIR/tmp/proxy";
    fastcgi_temp_path "$NGINX_DIR/tmp/fastcgi";
    uwsgi_temp_path "$NGINX_DIR/tmp/uwsgi";
    scgi_temp_path "$NGINX_DIR/tmp/scgi";

    # The path only (\$uri): query strings can hold positions.
    log_format fleet '\$remote_addr [\$time_local] "\$request_method \$uri" \$status '
                     '\$body_bytes_sent upstream=\$upstream_addr/\$upstream_status '
                     'rt=\$request_time';
    access_log "$LOG_DIR/nginx-access.log" fleet;

    # The app's own cap (MAX_BODY_BYTES, 64 KiB), enforced here too, with a refusal shaped like
    # the app's (error_page below). Passed on, a larger body is refused by the instance before
    # nginx has sent it all: nginx then fails with EPIPE and answers 502 most of the time.
    client_max_body_size 64k;

    # A WebSocket upgrade passes on; any other request sends no Connection header at all, so
    # the connections to the instances stay open (keepalive) between requests.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      '';
    }

    # Round robin over every instance: no ip_hash, no stickiness (sessions live in Redis).
    # max_fails=0: no passive health check. With it, one failed attempt benches an instance for
    # 10 s, so a Redis blip that every instance answers with 503 would leave none ("no live
    # upstreams": 502 for everyone). A stopped instance costs a refused connect (instant here)
    # and the request moves on; a rolling restart takes an instance out before stopping it.
    upstream hail {
$upstreams        keepalive 32;
    }

    server {
        listen 127.0.0.1:$PORT;

        # The metrics stay on each instance's own port.
        location = /metrics { return 404; }
        location ^~ /metrics/ { return 404; }

        error_page 413 = @too_large;
        location @too_large {
            default_type application/json;
            return 413 '{"kind":"too_large","message":"the request body is over 64 KiB"}';
        }

        location / {
            proxy_pass http://hail;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            # With the port: the app checks a socket's Origin against Host.
            proxy_set_header Host \$http_host;
            # nginx is the edge: the client address replaces whatever X-Forwarded-For a client
            # sent. Appending (\$proxy_add_x_forwarded_for) would let any local client name
            # its own address, since the instances trust 127.0.0.1 and look past it.
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;

            # A refused or failed connection (an instance stopping) goes to the next instance.
            # nginx never resends a POST that already reached an instance.
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries $SIZE;
            proxy_read_timeout ${ws_timeout}s;
            proxy_send_timeout ${ws_timeout}s;
        }
    }
}
EOF
  local out
  if ! out=$("$NGINX" -t -q -p "$NGINX_DIR" -c "$conf.tmp" 2>&1); then
    echo "$out" >&2
    warn "nginx refused the configuration it was given (kept in $conf.tmp)"
    return 1
  fi
  mv "$conf.tmp" "$conf"
}

start_nginx() {
  local reason
  if ! reason=$(port_available "$PORT"); then
    die "cannot listen on 127.0.0.1:$PORT: $reason (choose another with HAIL_FLEET_PORT)"
  fi
  write_nginx_conf || exit 1
  say "nginx: the balancer on 127.0.0.1:$PORT"
  spawn "$LOG_DIR/nginx-error.log" "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -g 'daemon off;'
  record_write nginx "$SPAWNED_PID" "$PORT" 1
  local _
  for _ in $(seq 1 100); do
    [[ "$(http_code "http://127.0.0.1:$PORT/healthz")" == 200 ]] && return 0
    if ! pid_is "$SPAWNED_PID" nginx; then
      show_log "$LOG_DIR/nginx-error.log"
      if tail -n 20 "$LOG_DIR/nginx-error.log" | grep -q 'Address already in use'; then
        die "port $PORT is in use (HAIL_FLEET_PORT)"
      fi
      die "nginx exited at start"
    fi
    sleep 0.1
  done
  show_log "$LOG_DIR/nginx-error.log"
  die "the balancer did not answer /healthz on 127.0.0.1:$PORT within 10 s"
}

# Reloads nginx (SIGHUP) and waits until a new worker started: from then on new connections get
# the new configuration, and the old worker only finishes what it holds. Fails (without exiting)
# when nginx does not take it.
reload_nginx() {
  if ! record_read nginx || ! pid_is "$R_PID" nginx; then
    warn "nginx is not running"
    return 1
  fi
  local log="$LOG_DIR/nginx-error.log" before _
  before=$(wc -l <"$log")
  kill -HUP "$R_PID"
  for _ in $(seq 1 100); do
    if tail -n +"$((before + 1))" "$log" | grep -q 'start worker process [0-9]'; then
      sleep 0.5 # the old worker gets its QUIT just after the new one starts
      return 0
    fi
    if tail -n +"$((before + 1))" "$log" | grep -qE '\[(emerg|alert)\]'; then
      show_log "$log"
      warn "nginx refused the reload"
      return 1
    fi
    sleep 0.1
  done
  show_log "$log"
  warn "nginx did not reload within 10 s"
  return 1
}

# status_lines: prints the status lines; returns 0 when everything is ready.
status_lines() {
  local all=0 name state word
  if [[ "$REDIS_MODE" == external ]]; then
    if redis_ping "$REDIS_URL_USED"; then state=ready; else state=not-ready; all=1; fi
    printf '%-8s %7s %5s %s\n' redis - "$(redis_hostport "$REDIS_URL_USED" | sed 's/.*://')" "$state"
  fi
  for name in $(record_names); do
    record_read "$name" || continue
    word=$(word_of "$name")
    if ! pid_is "$R_PID" "$word"; then
      state=stopped
    else
      case "$name" in
        redis) redis_ping "redis://127.0.0.1:$R_PORT" && state=ready || state=not-ready ;;
        nginx) [[ "$(http_code "http://127.0.0.1:$R_PORT/healthz")" == 200 ]] && state=ready || state=not-ready ;;
        *) [[ "$(http_code "http://127.0.0.1:$R_PORT/readyz")" == 200 ]] && state=ready || state=not-ready ;;
      esac
    fi
    [[ "$state" == ready ]] || all=1
    printf '%-8s %7s %5s %s\n' "$name" "$R_PID" "$R_PORT" "$state"
  done
  return "$all"
}

# Stops every recorded process (instances, then nginx, then a private Redis); keeps logs and data.
stop_all() {
  local name pids=() names=()
  for name in $(record_names); do
    [[ "$name" == hail-* ]] || continue
    record_read "$name" || continue
    if pid_is "$R_PID" "$(word_of "$name")"; then
      kill -TERM "$R_PID" 2>/dev/null || true
      pids+=("$R_PID")
      names+=("$name")
    fi
  done
  # They drain side by side, under one deadline.
  local i deadline=$((SECONDS + DRAIN_SECS + 5))
  ((${#pids[@]} == 0)) || say "stopping ${names[*]} (SIGTERM; up to $((DRAIN_SECS + 5)) s to drain)"
  for i in "${!pids[@]}"; do
    await_exit "${names[$i]}" "${pids[$i]}" "$deadline"
    say "stopped ${names[$i]} (pid ${pids[$i]})"
  done
  if record_read nginx && pid_is "$R_PID" nginx; then
    stop nginx "$R_PID" 10
    say "stopped nginx (pid $R_PID)"
  fi
  if record_read redis && pid_is "$R_PID" redis-server; then
    stop redis "$R_PID" 30 # on SIGTERM it writes out the append-only file first
    say "stopped redis (pid $R_PID); its data stays in $REDIS_DIR"
  fi
  if [[ "${REDIS_MODE:-}" == external ]]; then
    say "left the external Redis at $(redis_hostport "$REDIS_URL_USED") alone"
  fi
  rm -rf "$RUN_DIR"
  rm -f "$FLEET_ENV" "$INSTANCE_ENV"
}

# ---------------------------------------------------------------------------------------------
# Commands

# A failed `up` leaves nothing running.
on_up_exit() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    warn "up failed: stopping what was started (logs in $LOG_DIR)"
    stop_all >&2
  fi
  exit "$status"
}

cmd_up() {
  local size=${1:-$DEFAULT_SIZE}
  [[ "$size" =~ ^[1-9][0-9]*$ && "$size" -le MAX_SIZE ]] \
    || die_usage "N must be a whole number from 1 to $MAX_SIZE, not '$size'"
  PORT=${HAIL_FLEET_PORT:-8080}
  [[ "$PORT" =~ ^[1-9][0-9]{0,4}$ && "$PORT" -le 65535 ]] \
    || die_usage "HAIL_FLEET_PORT must be a port number (1-65535), not '$PORT'"
  DRAIN_SECS=${HAIL_DRAIN_SECS:-10}
  [[ "$DRAIN_SECS" =~ ^[1-9][0-9]*$ ]] \
    || die_usage "HAIL_DRAIN_SECS must be a whole number of seconds, not '$DRAIN_SECS'"
  WS_PING_SECS=${HAIL_WS_PING_SECS:-20}
  is_uint "$WS_PING_SECS" || die_usage "HAIL_WS_PING_SECS must be a whole number of seconds, not '$WS_PING_SECS'"
  case "${HAIL_FLEET_REDIS:-auto}" in
    auto | private | external) ;;
    *) die_usage "HAIL_FLEET_REDIS must be auto, private or external, not '$HAIL_FLEET_REDIS'" ;;
  esac
  check_tools
  take_lock

  if fleet_recorded; then
    load_fleet_env || true
    BIN=${BIN:-hail}
    if any_alive; then
      warn "a fleet is already running in $FLEET_DIR (see \`./scripts/fleet.sh status\`); nothing changed"
      exit 1
    fi
    say "clearing the records of a fleet that is no longer running"
    rm -rf "$RUN_DIR"
    rm -f "$FLEET_ENV" "$INSTANCE_ENV"
  fi
  SIZE=$size
  local reason
  if ! reason=$(port_available "$PORT"); then
    die "cannot listen on 127.0.0.1:$PORT: $reason (choose another with HAIL_FLEET_PORT)"
  fi

  ensure_build
  mkdir -p "$LOG_DIR" "$RUN_DIR"
  # From here on a failure stops whatever was started.
  trap on_up_exit EXIT
  # As many instances as cores or more: one worker thread each (idle siblings that wake to find
  # nothing cost a tenth of an instance's CPU here; see HAIL_WORKER_THREADS in the README).
  if [[ -z "${HAIL_WORKER_THREADS:-}" ]] && ((size >= $(nproc))); then
    export HAIL_WORKER_THREADS=1
  fi
  record_instance_env
  REDIS_MODE=private REDIS_URL_USED=''
  start_redis
  save_fleet_env

  local i ports
  read -r -a ports < <(free_ports "$SIZE")
  for i in $(seq 1 "$SIZE"); do
    start_instance "hail-$i" 1 "${ports[$((i - 1))]}"
    record_write "hail-$i" "$SPAWNED_PID" "$SPAWNED_PORT" 1
  done
  # They start side by side; then each must be ready.
  for i in $(seq 1 "$SIZE"); do
    record_read "hail-$i"
    wait_ready "hail-$i" "$R_PID" "$R_PORT" "$LOG_DIR/hail-$i.log" || exit 1
    say "hail-$i: ready on 127.0.0.1:$R_PORT (pid $R_PID)"
  done

  start_nginx
  trap - EXIT
  say "up: http://127.0.0.1:$PORT (instances: $SIZE; state and logs in $FLEET_DIR)"
  status_lines || true
}

cmd_status() {
  if ! fleet_recorded || ! load_fleet_env; then
    warn "no fleet recorded in $FLEET_DIR (start one with \`./scripts/fleet.sh up\`)"
    exit 3
  fi
  status_lines
}

cmd_down() {
  take_lock
  if ! fleet_recorded; then
    say "no fleet recorded in $FLEET_DIR: nothing to stop"
    return 0
  fi
  load_fleet_env || true
  BIN=${BIN:-hail}
  DRAIN_SECS=${DRAIN_SECS:-10}
  if ! any_alive; then
    say "nothing was running; clearing the records"
  fi
  stop_all
  say "down (logs in $LOG_DIR)"
}

# A restart that fails or is interrupted halfway through an instance puts the old one back in
# the records and the balancer, and stops the replacement.
on_restart_exit() {
  local status=$? name new_pid old_pid old_port old_gen
  if [[ $status -ne 0 && -n "${PENDING:-}" ]]; then
    read -r name new_pid old_pid old_port old_gen <<<"$PENDING"
    if record_read "$name" && [[ "$R_PID" == "$new_pid" ]]; then
      record_write "$name" "$old_pid" "$old_port" "$old_gen"
      RESTART_FRESH=''
      if ! write_nginx_conf || ! reload_nginx; then
        warn "could not put $name back into nginx's configuration"
      fi
    fi
    stop "$name" "$new_pid" "$((DRAIN_SECS + 5))"
    warn "$name: the replacement (pid $new_pid) is stopped; the old instance (pid $old_pid) serves on"
  fi
  exit "$status"
}

cmd_restart() {
  check_tools
  take_lock
  if ! fleet_recorded || ! load_fleet_env; then
    warn "no fleet recorded in $FLEET_DIR (start one with \`./scripts/fleet.sh up\`)"
    exit 3
  fi
  if ! record_read nginx || ! pid_is "$R_PID" nginx; then
    die "nginx is not running, so there is nothing to roll over: run down, then up"
  fi
  if [[ "${HAIL_FLEET_BUILD:-}" == 1 ]]; then
    if [[ "$BIN" == "$ROOT/target/release/hail" ]]; then
      HAIL_BIN='' HAIL_SITE_ROOT="$SITE_ROOT" ensure_build
    else
      warn "HAIL_FLEET_BUILD=1 ignored: the fleet runs $BIN, which this script does not build"
    fi
  fi

  local i name old_pid old_port gen new_pid port
  PENDING=''
  # The names replaced so far (see write_nginx_conf: the others are backups meanwhile).
  RESTART_FRESH=''
  trap on_restart_exit EXIT
  for i in $(seq 1 "$SIZE"); do
    name="hail-$i"
    record_read "$name" || die "no record for $name"
    old_pid=$R_PID old_port=$R_PORT gen=$((${R_GEN:-1} + 1))
    say "$name: starting its replacement (generation $gen)"
    read -r port < <(free_ports 1)
    start_instance "$name" "$gen" "$port"
    new_pid=$SPAWNED_PID
    PENDING="$name $new_pid $old_pid $old_port $((gen - 1))"
    wait_ready "$name" "$new_pid" "$SPAWNED_PORT" "$SPAWNED_LOG" \
      || die "restart stopped at $name: its replacement did not become ready"
    say "$name: replacement ready on 127.0.0.1:$SPAWNED_PORT (pid $new_pid)"
    # The balancer stops routing to the old instance before it stops accepting.
    record_write "$name" "$new_pid" "$SPAWNED_PORT" "$gen"
    RESTART_FRESH+=" $name"
    if ! write_nginx_conf || ! reload_nginx; then
      die "restart stopped at $name: nginx did not take the new configuration; the old instance (pid $old_pid) still serves"
    fi
    PENDING=''
    say "$name: nginx now routes to port $SPAWNED_PORT instead of $old_port"
    if pid_is "$old_pid" "$BIN"; then
      say "$name: draining the old instance (pid $old_pid, up to $((DRAIN_SECS + 5)) s)"
      stop "$name" "$old_pid" "$((DRAIN_SECS + 5))"
    fi
    say "$name: replaced"
  done
  say "restart done"
  status_lines || true
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd=$1
  shift
  case "$cmd" in
    up)
      [[ $# -le 1 ]] || usage
      cmd_up "$@"
      ;;
    down | status | restart)
      [[ $# -eq 0 ]] || usage
      "cmd_$cmd"
      ;;
    -h | --help | help) usage ;;
    *)
      warn "unknown command '$cmd'"
      usage
      ;;
  esac
}

trap 'exit 130' INT
trap 'exit 143' TERM
main "$@"
