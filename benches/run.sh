#!/usr/bin/env bash
# The whole benchmark suite (BENCHMARKS.md): stage micro-benchmarks, stream scaling, sink throughput
# against the consume-only ceiling, backfill, the Iceberg output and the registry, on the local stack.
# Each part prints its table; they are repeated together at the end. Last, the ingestion edge
# (murron-server into Kafka) against its peer.
#
# Usage: benches/run.sh            the full suite, release build (about 20 minutes on 2 cores)
#        benches/run.sh --smoke    seconds-long runs on the test build, so the harness cannot rot (CI)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

part() {
  local name=$1; shift
  printf '\n\033[1m=== %s\033[0m\n' "$name" >&2
  "$@" 2>&1 | tee "$OUT/$name.txt" >&2
}

if [ "${1:-}" = "--smoke" ]; then
  export BENCH_PROFILE=debug
  # Each criterion benchmark once, as a test; the scaling table at its smallest size.
  part stages cargo test -q -p sink-worker --bench stages
  part streams cargo test -q -p sink-worker --bench streams -- --smoke
  part sink env EVENTS=40000 RUNS=1 WORKERS=1 FLUSH_EVENTS=2000 STREAMS=8 SCALING_STREAMS=100 PEER= \
    SCALING_EVENTS=20000 bash benches/sink/run.sh
  part backfill env EVENTS=20000 GAPS=200 HOURS=2 STREAMS=4 bash benches/backfill/run.sh
  part iceberg env EVENTS=20000 RUNS=1 FLUSH_EVENTS=2000 STREAMS=8 COMMIT_EVENTS=5000 COMMIT_WORKERS="1 2" \
    bash benches/iceberg/run.sh
  part registry env SUBJECTS=1 VERSIONS=10 bash benches/registry/run.sh 1
  part ingest env RUNS=1 EVENTS=4000 WARMUP_SECS=0.5 PEAK_SECS=1 PACED_SECS=1 PEER= bash benches/ingest/run.sh
else
  part stages cargo bench -q -p sink-worker --bench stages -- --warm-up-time 1 --measurement-time 3
  part streams cargo bench -q -p sink-worker --bench streams
  part sink bash benches/sink/run.sh
  part backfill bash benches/backfill/run.sh
  part iceberg bash benches/iceberg/run.sh
  part registry bash benches/registry/run.sh 5
  part ingest bash benches/ingest/run.sh
fi

printf '\n\033[1m=== summary (%s)\033[0m\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
for f in stages streams sink backfill iceberg registry ingest; do
  echo
  echo "--- $f"
  case $f in
    # The criterion part is long; keep each benchmark's name and throughput.
    stages) grep -E '^[a-z_]+/[a-z0-9_]+|thrpt:|framed|Parquet file' "$OUT/$f.txt" | grep -v '%' || true ;;
    streams) grep -E '^(shape|owned|monitor|sink)' "$OUT/$f.txt" || true ;;
    *) sed -n '/^==/,$p' "$OUT/$f.txt" ;;
  esac
done
