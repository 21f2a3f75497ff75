# Shared by the benchmark scripts under benches/. Sourced, not run.
# Starts the local stack, builds release binaries, and runs a schema registry on a fresh database, so
# that every benchmark run starts from empty state and leaves nothing behind.
set -euo pipefail
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$BENCH_ROOT"
# `up` only when a service is down: a stack another checkout started (MURRON_STATE pointing at its
# .local/) is used as it is.
bash deploy/local/stack.sh status >/dev/null 2>&1 || bash deploy/local/stack.sh up >/dev/null
eval "$(bash deploy/local/stack.sh env)"
# BENCH_PROFILE=debug runs the smoke check of CI on the test build instead of a release build.
BENCH_PROFILE=${BENCH_PROFILE:-release}
BIN=${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/$BENCH_PROFILE
# The Python of `make venv` (pyiceberg, DuckDB), for the scripts that read Iceberg tables.
BENCH_PYTHON=${BENCH_PYTHON:-$BENCH_ROOT/.local/venv/bin/python}
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

# bench_progress PIPELINE COMMITTED WRITERS BATCHES: reads into the three variables the events committed
# so far, how many workers have committed a batch, and how many manifest rows the pipeline has (one per
# file for file outputs, one per batch and so one per snapshot for an Iceberg output of one type).
# The writer's instance is in every batch id ({ms}-{instance}-{seq}), which is in every staging key
# (_murron/staging/{pipeline}/{batch id}/N.ext). Asked over one psql session (the POLL coprocess): a
# psql process per poll, ten a second, took a third of a core from the run it measured.
bench_progress() {
  printf '%s\n' "
    SELECT (SELECT coalesce(sum(next_offset), 0) FROM sink_partitions WHERE pipeline = '$1'), f.*
      FROM (SELECT count(DISTINCT split_part(split_part(staging_key, '/', 4), '-', 2)), count(*)
              FROM sink_files WHERE pipeline = '$1') f;" >&"${POLL[1]}"
  read -r "$2" "$3" "$4" <&"${POLL[0]}"
}

# bench_sink_run NAME WORKERS CONFIG EVENTS [BIN]: runs WORKERS sink processes (of BIN's sink-worker,
# this build's by default) of the pipeline NAME configured in the file CONFIG until all EVENTS events of
# its topic are committed. Prints "events_per_sec peak_rss_mib cpu_us_per_event window_secs
# batches_in_window": the largest worker's peak, the machine's CPU per event in the window and the
# manifest rows committed in it (see bench_progress); or "skip peak_rss_mib - - -" when the window is
# under 0.5 s: with several workers, one may take most of the topic before the others join.
# The window runs from the first poll where every worker has committed a batch and 10% of the topic is
# committed to the first where 90% is. That leaves out start-up, the group's join and rebalance, and the
# last partial batches, which wait for the flush age once the topic is drained.
# Each worker's /metrics, read just before it is stopped, is left in $BENCH_TMP/NAME-W.metrics.
bench_sink_run() {
  local name=$1 workers=$2 conf=$3 events=$4 bin=${5:-$BIN} pids=() t0="" c0=0 b0=0 t1="" c1=0 b1=0 n rss=0 r
  local cpu0="" cpu1="" deadline=$((SECONDS + 900)) writers batches now
  for w in $(seq 1 "$workers"); do
    SINK_WORKER_ADMIN__LISTEN=127.0.0.1:$((19464 + w)) "$bin/sink-worker" -c "$conf" run \
      >"$BENCH_TMP/$name-$w.log" 2>&1 &
    pids+=($!)
  done
  coproc POLL { psql "$BENCH_DATABASE_URL" -AtF' ' -q; }
  while :; do
    bench_progress "$name" n writers batches
    now=$EPOCHREALTIME
    if [ -z "$t0" ] && [ "$writers" -ge "$workers" ] && [ "$n" -ge $((events / 10)) ]; then
      t0=$now c0=$n b0=$batches cpu0=$(cpu_busy_secs)
    fi
    if [ -n "$t0" ] && [ -z "$t1" ] && [ "$n" -ge $((events * 9 / 10)) ]; then
      t1=$now c1=$n b1=$batches cpu1=$(cpu_busy_secs)
    fi
    [ "$n" -ge "$events" ] && break
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || {
        kill "${pids[@]}" 2>/dev/null; cat "$BENCH_TMP/$name"-*.log >&2; echo "a worker exited" >&2; return 1
      }
    done
    [ $SECONDS -lt $deadline ] || { kill "${pids[@]}"; echo "timed out at $n of $events committed" >&2; return 1; }
    sleep 0.1
  done
  exec {POLL[1]}>&-
  for w in $(seq 1 "$workers"); do
    curl -fsS "http://127.0.0.1:$((19464 + w))/metrics" >"$BENCH_TMP/$name-$w.metrics" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    r=$(peak_rss_mib "$pid"); [ "$r" -gt "$rss" ] && rss=$r
    kill "$pid"
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  python3 -c '
import sys
c1, c0, b1, b0, t0, t1, rss, cpu0, cpu1 = sys.argv[1:]
if not t0 or not t1 or float(t1) - float(t0) < 0.5:
    print(f"skip {rss} - - -")
else:
    events, secs = int(c1) - int(c0), float(t1) - float(t0)
    print(f"{events / secs:.0f} {rss} {(float(cpu1) - float(cpu0)) / events * 1e6:.2f} {secs:.3f} {int(b1) - int(b0)}")' \
    "$c1" "$c0" "$b1" "$b0" "$t0" "$t1" "$rss" "$cpu0" "$cpu1"
}

# bench_metric NAME FILE...: the sum of the Prometheus samples of metric NAME (any labels) in FILEs.
bench_metric() {
  local name=$1; shift
  awk -v m="$name" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%.0f\n", s }' "$@"
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
