#!/usr/bin/env bash
# Backfill (issue 6, item 6): the time to repair missing events from the raw archive, and the archive
# bytes read against the archive's size.
#
# For each scenario, EVENTS events are spread over HOURS whole hours (one archive partition each, one
# Avro file per hour in the local S3 server). All of them reach the archive; GAPS of them never reach
# Kafka. The sink consumes the rest, then `sink-worker backfill` over the whole HOURS repairs the gaps:
#   scattered: GAPS random events of random streams, so every partition holds some;
#   one run:   GAPS consecutive offsets of one stream, so only the partitions of that stretch of time.
# A second backfill of the same range afterwards must read nothing.
#
# Usage: benches/backfill/run.sh   (EVENTS=2000000 GAPS=10000 HOURS=24 STREAMS=16 by default; a run of GAPS
# offsets must be at most a quarter of one stream)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
EVENTS=${EVENTS:-2000000}
GAPS=${GAPS:-10000}
HOURS=${HOURS:-24}
STREAMS=${STREAMS:-16}
TYPE=client.api_call
export SINK_WORKER_KEYS__DEFAULT=bench-secret SINK_WORKER_KAFKA__BROKERS=$MURRON_KAFKA_BROKERS \
  SINK_WORKER_REGISTRY__URL=$BENCH_REGISTRY RUST_LOG=${RUST_LOG:-warn}

bench_build -p schema-registry -p sink-worker --bins
bench_database
export SINK_WORKER_STATE__URL=$BENCH_DATABASE_URL
bench_registry
bench_register "$TYPE" schemas/client/api_call.avsc
bench_owns_topics "bench\.backfill\.$BENCH_RUN\..*"
bench_owns_prefix "backfill-$BENCH_RUN/"

# scenario NAME DROP_OPTION: prints "seconds written files_read files_total bytes_read archive_bytes
# second_bytes_read".
scenario() {
  local name=$1 drop=$2 topic="bench.backfill.$BENCH_RUN.$1" conf="$BENCH_TMP/$1.toml" pid n
  cat >"$conf" <<TOML
[pipeline]
name = "backfill-$name"
input = { topics = ["$topic"] }
flush = { max_events = 100000, max_bytes = 67108864, max_age_ms = 5000 }
$(bench_s3_output "backfill-$BENCH_RUN/$name/out")
[archive]
prefix = "backfill-$BENCH_RUN/$name/archive"
codec = "zstandard"
store = { kind = "s3", bucket = "murron-bench", endpoint = "$MURRON_S3_ENDPOINT", access_key_id = "$MURRON_S3_ACCESS_KEY", secret_access_key = "$MURRON_S3_SECRET_KEY", create_bucket = true }
TOML
  bench_log "$name: $EVENTS events over $HOURS hours into the archive, $GAPS of them withheld from $topic"
  "$BIN/sink-worker" -c "$conf" gen --topic "$topic" --type "$TYPE" --count "$EVENTS" --streams "$STREAMS" \
    --partitions 8 --archive --spread-hours "$HOURS" "$drop" "$GAPS" >"$BENCH_TMP/$name.gen" \
    || { cat "$BENCH_TMP/$name.gen" >&2; return 1; }
  bench_log "$name: the sink consumes the $((EVENTS - GAPS)) events that reached Kafka"
  SINK_WORKER_ADMIN__LISTEN=127.0.0.1:19480 "$BIN/sink-worker" -c "$conf" run >"$BENCH_TMP/$name.run.log" 2>&1 &
  pid=$!
  local deadline=$((SECONDS + 900))
  until n=$(psql "$BENCH_DATABASE_URL" -Atc "SELECT coalesce(sum(next_offset), 0) FROM sink_partitions WHERE pipeline = 'backfill-$name'") \
      && [ "$n" -ge $((EVENTS - GAPS)) ]; do
    kill -0 $pid 2>/dev/null || { cat "$BENCH_TMP/$name.run.log" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "timed out at $n committed" >&2; return 1; }
    sleep 0.5
  done
  kill $pid; wait $pid || true

  local from to start end
  from=$(date -u -d "-$HOURS hours" +%Y-%m-%dT%H:00:00Z)
  to=$(date -u +%Y-%m-%dT%H:00:00Z)
  bench_log "$name: backfill $from to $to"
  start=$(date +%s.%N)
  "$BIN/sink-worker" -c "$conf" backfill --type "$TYPE" --from "$from" --to "$to" >"$BENCH_TMP/$name.bf" \
    || { cat "$BENCH_TMP/$name.bf" >&2; return 1; }
  end=$(date +%s.%N)
  cat "$BENCH_TMP/$name.bf" >&2
  "$BIN/sink-worker" -c "$conf" backfill --type "$TYPE" --from "$from" --to "$to" >"$BENCH_TMP/$name.bf2" \
    || { cat "$BENCH_TMP/$name.bf2" >&2; return 1; }
  cat "$BENCH_TMP/$name.bf2" >&2
  # Every event in the outputs exactly once: the manifest holds all of them.
  n=$(psql "$BENCH_DATABASE_URL" -Atc "SELECT coalesce(sum(events), 0) FROM sink_files WHERE pipeline = 'backfill-$name'")
  [ "$n" -eq "$EVENTS" ] || { echo "$name: the outputs hold $n events, not $EVENTS" >&2; return 1; }
  psql "$BENCH_DATABASE_URL" -AtF' ' -c "
    SELECT $end - $start, b.written, b.files_read, (SELECT count(*) FROM archive_files f WHERE f.key LIKE 'backfill-$BENCH_RUN/$name/%'),
           b.bytes_read, (SELECT sum(size) FROM archive_files f WHERE f.key LIKE 'backfill-$BENCH_RUN/$name/%'),
           (SELECT bytes_read FROM backfills WHERE pipeline = 'backfill-$name' ORDER BY id DESC LIMIT 1)
    FROM backfills b WHERE b.pipeline = 'backfill-$name' ORDER BY b.id LIMIT 1"
}

declare -A result
result[scattered]=$(scenario scattered --drop-random)
result[run]=$(scenario run --drop-run)
echo
echo "== backfill: $GAPS missing events, $EVENTS events over $HOURS hourly partitions (one file each, zstandard); $(machine)"
printf '%-12s %10s %10s %12s %16s %16s %8s %20s\n' "gaps" "seconds" "written" "files read" "MB read" "archive MB" "read" "then, again: read"
for s in scattered run; do
  read -r secs written fr ft br ab again <<<"${result[$s]}"
  printf '%-12s %10.1f %10s %12s %16.1f %16.1f %7.1f%% %18s B\n' "$s" "$secs" "$written" "$fr of $ft" \
    "$(python3 -c "print($br / 1e6)")" "$(python3 -c "print($ab / 1e6)")" "$(python3 -c "print(100 * $br / $ab)")" "$again"
done
