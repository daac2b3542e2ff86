#!/usr/bin/env bash
# Runs Hail for development at http://127.0.0.1:3000 (LEPTOS_SITE_ADDR overrides it): sets up
# what is missing, makes sure Redis answers, then `cargo leptos watch` rebuilds on every edit.
# Demo mode is on, with six simulated drivers, so one person can take a ride alone
# (HAIL_DEMO_DRIVERS=0 ./scripts/run.sh turns it off).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379} bash scripts/redis.sh
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export HAIL_DEMO_DRIVERS="${HAIL_DEMO_DRIVERS:-6}"
# Precompressed files of an earlier `--precompress` release build would be served instead of the
# ones `watch` writes.
rm -f target/site/pkg/*.br target/site/pkg/*.gz
exec cargo leptos watch "$@"
