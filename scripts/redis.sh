#!/usr/bin/env bash
# Makes sure a Redis answers at REDIS_URL's host and port (default 127.0.0.1:6379), starting a
# local redis-server there when none does. Sourced by scripts/run.sh.
set -euo pipefail

url=${REDIS_URL:-redis://127.0.0.1:6379}
hostport=${url#*://}
hostport=${hostport##*@}
hostport=${hostport%%/*}
host=${hostport%%:*}
port=${hostport##*:}
[ "$port" = "$host" ] && port=6379

if redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
  echo "[redis] answering at $host:$port"
  exit 0
fi
case "$host" in
  127.0.0.1|localhost) ;;
  *) echo "[redis] nothing answers at $host:$port and it is not local: start it, then retry" >&2; exit 1 ;;
esac
echo "[redis] starting redis-server on $host:$port"
mkdir -p .run
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir "$PWD/.run" --logfile "$PWD/.run/redis-$port.log" --pidfile "$PWD/.run/redis-$port.pid"
for _ in $(seq 1 50); do
  redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "[redis] redis-server did not answer on $host:$port; see .run/redis-$port.log" >&2
exit 1
