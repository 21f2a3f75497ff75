#!/usr/bin/env bash
# Runs every fuzz target (fuzz/README.md) for a bounded time each, one after another, and keeps what
# the fuzzer finds in fuzz/corpus. Needs the nightly toolchain and cargo-fuzz.
# Usage: deploy/fuzz.sh [seconds per target, default 300]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
secs=${1:-300}
case "$secs" in ''|*[!0-9]*|0) echo "usage: $0 [seconds per target]" >&2; exit 2 ;; esac
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
rustup run nightly rustc --version >/dev/null 2>&1 || { echo "the nightly toolchain is missing: rustup toolchain install nightly" >&2; exit 1; }

targets=(envelope payload schema json_schema compatibility protobuf_schema protobuf_payload json_payload)
cargo +nightly fuzz build --features libfuzzer
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
  echo "== $t for ${secs}s" >&2
  log=fuzz/artifacts/$t.log
  # -rss_limit_mb: the payload target compiles schemas; 2 GiB leaves room without hiding a leak.
  if ! cargo +nightly fuzz run "$t" --features libfuzzer -- -max_total_time="$secs" -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "$t: the fuzzer found a crash; the input is in fuzz/artifacts/$t, the log in $log" >&2
    exit 1
  fi
  grep -E 'Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb' "$log" >&2 || true
done
