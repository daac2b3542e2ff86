#!/usr/bin/env bash
# Runs every test: formatting, clippy for both features, the WASM dependency check, unit and
# integration tests (their own redis-servers; the ride and live suites twice, on one node and on
# a six-node Redis Cluster), the fuzz targets for 30 s each, then the end-to-end suite in Chromium against
# two instances and a fleet of three behind nginx, and the fleet script's smoke test. Sets up
# whatever is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
step() { printf '\n==> %s\n' "$*"; }
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

step "rustfmt"
cargo fmt --all -- --check

step "clippy (ssr)"
cargo clippy --features ssr --all-targets -- -D warnings
step "clippy (hydrate, wasm32)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

step "the WASM build holds no server-only crate"
bash scripts/check-wasm-deps.sh

step "unit and integration tests"
cargo test --features ssr 2>&1 | tee "$logs/cargo-test.log"

step "the ride and live suites again, on a six-node Redis Cluster"
HAIL_TEST_TOPOLOGY=cluster cargo test --features ssr --test integration -- rides:: live:: 2>&1 \
  | tee -a "$logs/cargo-test.log"

step "fuzzing: each target for 30 s (fuzz/; the seeds it finds stay in fuzz/corpus)"
# libFuzzer's coverage instrumentation without a sanitizer, which works on the stable toolchain.
for target in live_message forms domain; do
  cargo fuzz run --sanitizer none --release "$target" -- -max_total_time=30 2>&1 \
    | tee "$logs/fuzz-$target.log" | grep -E '^Done|^==|panicked|SUMMARY' || true
  # libFuzzer ends with "Done N runs" only when it found nothing.
  if grep -q '^Done [0-9]* runs' "$logs/fuzz-$target.log"; then
    echo "ok - fuzz $target" | tee -a "$logs/fuzz-$target.log"
  else
    echo "not ok - fuzz $target" | tee -a "$logs/fuzz-$target.log"
    tail -40 "$logs/fuzz-$target.log"
    exit 1
  fi
done

step "end-to-end (Chromium, two instances)"
# A release build made with --precompress leaves .br/.gz files that the server would send in
# place of this build's fresh ones.
rm -f target/site/pkg/*.br target/site/pkg/*.gz
cargo leptos build
bash scripts/e2e.sh 2>&1 | tee "$logs/e2e.log"

step "the fleet script's smoke test (nginx in front of two instances, this build)"
HAIL_BIN=target/debug/hail HAIL_SITE_ROOT=target/site bash scripts/fleet-smoke.sh 2>&1 \
  | tee "$logs/fleet-smoke.log"

# One closing line for every test that ran: Rust's and Playwright's together.
awk '
  /^test result: / { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  /^ *[0-9]+ passed \(/ { p += $1 }
  /^ *[0-9]+ failed$/ { f += $1 }
  /^ok - / { p += 1 }
  /^not ok - / { f += 1 }
  END { printf "\nall: %d passed, %d failed\n", p, f }
' "$logs/cargo-test.log" "$logs"/fuzz-*.log "$logs/e2e.log" "$logs/fleet-smoke.log"
