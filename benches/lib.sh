# Shared by the benchmark scripts under benches/. Sourced, not run.
# Starts the local stack, builds release binaries, and runs a schema registry on a fresh database, so
# that every benchmark run starts from empty state and leaves nothing behind.
set -euo pipefail
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$BENCH_ROOT"
bash deploy/local/stack.sh up >/dev/null
eval "$(bash deploy/local/stack.sh env)"
# BENCH_PROFILE=debug runs the smoke check of CI on the test build instead of a release build.
BENCH_PROFILE=${BENCH_PROFILE:-release}
BIN=$BENCH_ROOT/target/$BENCH_PROFILE
BENCH_REGISTRY_PORT=${BENCH_REGISTRY_PORT:-18081}
BENCH_REGISTRY=http://127.0.0.1:$BENCH_REGISTRY_PORT
BENCH_PIDS=()
BENCH_DB=""
# What this run created in Kafka and S3, deleted when it ends unless BENCH_KEEP=1: a suite run leaves
# gigabytes behind otherwise, and repeated runs fill the disk.
BENCH_TOPICS=()
BENCH_PREFIXES=()
# Names this run's topics, databases and object prefixes, so no run reads another's data.
BENCH_RUN=${BENCH_RUN:-$(date +%s)}

bench_log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

# bench_build ARGS...: cargo build of the given packages and targets, in BENCH_PROFILE.
bench_build() {
  bench_log "building ($BENCH_PROFILE): $*"
  if [ "$BENCH_PROFILE" = release ]; then cargo build --release -q "$@"; else cargo build -q "$@"; fi
}

# bench_database: creates a fresh database and sets BENCH_DB and BENCH_DATABASE_URL.
bench_database() {
  BENCH_DB="bench_${BENCH_RUN}_$$"
  psql "$MURRON_DATABASE_URL" -q -c "CREATE DATABASE $BENCH_DB"
  BENCH_DATABASE_URL="${MURRON_DATABASE_URL%/*}/$BENCH_DB"
}

# bench_registry: starts the registry on the fresh database and waits until it is ready.
bench_registry() {
  SCHEMA_REGISTRY_SERVER__LISTEN=127.0.0.1:$BENCH_REGISTRY_PORT SCHEMA_REGISTRY_DATABASE__URL=$BENCH_DATABASE_URL \
    RUST_LOG=warn "$BIN/schema-registry" >"$BENCH_TMP/registry.log" 2>&1 &
  BENCH_PIDS+=($!)
  for _ in $(seq 1 100); do curl -fsS "$BENCH_REGISTRY/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$BENCH_TMP/registry.log" >&2
  echo "the registry did not become ready" >&2
  return 1
}

# bench_register SUBJECT FILE: registers an Avro schema file under SUBJECT.
bench_register() {
  python3 -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' "$2" \
    | curl -fsS -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data @- \
      "$BENCH_REGISTRY/subjects/$1/versions" >/dev/null
}

# bench_s3_output PREFIX: a pipeline output of Parquet files in the local S3 server, as TOML.
bench_s3_output() {
  cat <<TOML
[[pipeline.outputs]]
kind = "s3"
bucket = "murron-bench"
endpoint = "$MURRON_S3_ENDPOINT"
access_key_id = "$MURRON_S3_ACCESS_KEY"
secret_access_key = "$MURRON_S3_SECRET_KEY"
create_bucket = true
prefix = "$1"
format = "parquet"
TOML
}

# bench_owns_topics REGEX / bench_owns_prefix PREFIX: this run's topics and object prefixes (in the
# murron-bench bucket), to delete at the end.
bench_owns_topics() { BENCH_TOPICS+=("$1"); }
bench_owns_prefix() { BENCH_PREFIXES+=("$1"); }

bench_cleanup() {
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    bench_log "BENCH_KEEP=1: keeping topics ${BENCH_TOPICS[*]} and prefixes ${BENCH_PREFIXES[*]}"
  else
    for re in "${BENCH_TOPICS[@]}"; do
      bash deploy/local/kafka.sh delete-topics "$re" >/dev/null 2>&1 || bench_log "could not delete topics $re"
    done
    for prefix in "${BENCH_PREFIXES[@]}"; do
      bash deploy/local/s3.sh delete-prefix murron-bench "$prefix" || bench_log "could not delete s3://murron-bench/$prefix"
    done
  fi
  if [ -n "$BENCH_DB" ]; then
    psql "$MURRON_DATABASE_URL" -q -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" 2>/dev/null || true
  fi
  rm -rf "$BENCH_TMP"
}
BENCH_TMP=$(mktemp -d)
trap bench_cleanup EXIT

# stats V1 V2 ...: "median (min-max)" of numbers, rounded.
stats() { python3 -c 'import statistics,sys; v=sorted(float(x) for x in sys.argv[1:]); print(f"{statistics.median(v):,.0f} ({v[0]:,.0f}-{v[-1]:,.0f})")' "$@"; }
# ratios V1 V2 ...: "median (min-max)" of ratios, two decimals.
ratios() { python3 -c 'import statistics,sys; v=sorted(float(x) for x in sys.argv[1:]); print(f"{statistics.median(v):.2f} ({v[0]:.2f}-{v[-1]:.2f})")' "$@"; }
# median V1 V2 ...
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
# cpu_busy_secs: CPU seconds the whole machine has been busy since boot, every core summed (/proc/stat:
# user, nice, system, irq, softirq, steal). The difference of two readings over a number of events is
# the machine's CPU per event: the program under test plus the broker and the stores it keeps busy.
cpu_busy_secs() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }
# peak_rss_mib PID: the process's peak resident set (VmHWM), in MiB.
peak_rss_mib() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
machine() { echo "$(nproc) cores, $(free -g | awk '/^Mem/ { print $2 }') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"; }
