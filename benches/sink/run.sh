#!/usr/bin/env bash
# Sink throughput (issue 6, items 1, 2 and 7): the consume-only ceiling, the full sink with one worker
# and with two, each run RUNS times over one preloaded topic, and the ratio of sink to ceiling.
#
# The full sink path: verify each envelope's signature, validate its payload against the registry's
# schema, track every stream's offsets, convert to Parquet (zstd), write to the local S3 server and
# commit. The sink's rate is measured in its steady state: from the first poll where every worker has
# committed a batch and 10% of the topic is committed, to the first where 90% is. That leaves out
# start-up, the group's join and rebalance, and the last partial batches, which wait for the flush age
# (flush.max_age_ms) once the topic is drained. The ceiling's rate is from its first record to its last.
#
# The peer (issue 6, item 4): Apache Flink on the same topic in the same rounds (benches/peer). Its rate
# is the difference of two jobs, one over a quarter of each partition and one over all of it, so that
# JVM and job start-up cancel out: (records_all - records_quarter) / (secs_all - secs_quarter).
#
# A baseline build (BASELINE_BIN, a folder with another build's sink-worker; see benches/compare.sh)
# runs one worker in every round too, right after this build's, on the same topic, and the table adds
# its row and the ratio of this build to it, paired by round.
#
# Usage: benches/sink/run.sh   (EVENTS=2000000 RUNS=3 PARTITIONS=8 STREAMS=64 FLUSH_EVENTS=100000
# WORKERS="1 2" PEER=flink PEER_PARALLELISM=$(nproc) BASELINE_BIN= by default; a flush commits at most
# FLUSH_EVENTS events; PEER= skips the peer)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
EVENTS=${EVENTS:-2000000}
RUNS=${RUNS:-3}
PARTITIONS=${PARTITIONS:-8}
STREAMS=${STREAMS:-64}
FLUSH_EVENTS=${FLUSH_EVENTS:-100000}
WORKERS=${WORKERS:-1 2}
PEER=${PEER-flink}
BASELINE_BIN=${BASELINE_BIN:-}
# The peer's parallelism: Flink tasks per operator, one per core by default.
PEER_PARALLELISM=${PEER_PARALLELISM:-$(nproc)}
# Stream counts for the durable tracker's scaling runs (one worker, SCALING_EVENTS events each; empty
# skips them).
SCALING_STREAMS=${SCALING_STREAMS-1000 100000}
SCALING_EVENTS=${SCALING_EVENTS:-1000000}
TYPE=client.api_call
export SINK_WORKER_KEYS__DEFAULT=bench-secret SINK_WORKER_KAFKA__BROKERS=$MURRON_KAFKA_BROKERS \
  SINK_WORKER_REGISTRY__URL=$BENCH_REGISTRY RUST_LOG=${RUST_LOG:-warn}

bench_build -p schema-registry -p sink-worker --bins --example consume_ceiling
bench_database
export SINK_WORKER_STATE__URL=$BENCH_DATABASE_URL
bench_registry
bench_register "$TYPE" schemas/client/api_call.avsc

case $PEER in
  flink) PEER_HOME=$(bash benches/peer/install.sh) ;;
  "") ;;
  *) echo "PEER=$PEER: the only peer is flink (or empty for none)" >&2; exit 1 ;;
esac

TOPIC="bench.sink.$BENCH_RUN"
bench_owns_topics "bench\.sink\.$BENCH_RUN(\..*)?"
bench_owns_prefix "sink-$BENCH_RUN/"
bench_log "preloading $EVENTS events of $TYPE over $STREAMS streams into $TOPIC ($PARTITIONS partitions)"
"$BIN/sink-worker" gen --topic "$TOPIC" --type "$TYPE" --count "$EVENTS" --streams "$STREAMS" \
  --partitions "$PARTITIONS" >"$BENCH_TMP/gen.out"
cat "$BENCH_TMP/gen.out" >&2

# sink_config NAME PREFIX: a pipeline writing Parquet to the local S3 server.
sink_config() {
  cat <<TOML
[kafka.properties]
"session.timeout.ms" = "10000"
[pipeline]
name = "$1"
input = { topics = ["$TOPIC"] }
flush = { max_events = $FLUSH_EVENTS, max_bytes = 67108864, max_age_ms = 10000 }
$(bench_s3_output "$2")
TOML
}

# sink_run NAME WORKERS [BIN]: bench_sink_run (lib.sh) of a pipeline NAME over the whole topic.
sink_run() {
  sink_config "$1" "sink-$BENCH_RUN/$1" >"$BENCH_TMP/$1.toml"
  bench_sink_run "$1" "$2" "$BENCH_TMP/$1.toml" "$EVENTS" "${3:-$BIN}"
}

# peer_job NAME BOUNDS: one Flink job over the topic up to BOUNDS, writing under this run's prefix;
# prints its JSON line and the machine's busy CPU seconds over the job, or fails with the tail of its
# log.
peer_job() {
  local log=$BENCH_TMP/$1.log cpu0
  cpu0=$(cpu_busy_secs)
  HADOOP_CLASSPATH="$PEER_HOME/conf:$PEER_HOME/lib/*" FLINK_CONF_DIR="$PEER_HOME/conf" \
    "$PEER_HOME/venv/bin/python" benches/peer/flink_sink.py "$TOPIC" "$2" "$BENCH_REGISTRY" \
    "$MURRON_S3_ENDPOINT" "murron-bench/sink-$BENCH_RUN/$1" "$PEER_PARALLELISM" >"$log" 2>&1 || true
  # Flink logs to stdout too; the result is the JSON line the script prints last.
  if grep -q '^{"records":' "$log"; then
    echo "$(grep '^{"records":' "$log" | tail -n 1) $(python3 -c "print($(cpu_busy_secs) - $cpu0)")"
    return 0
  fi
  grep -v '^\s*at ' "$log" | tail -n 20 >&2
  echo "the peer's job $1 failed" >&2
  return 1
}

# peer_run NAME: the peer's events/s and the machine's CPU µs per event, from a job over a quarter of
# each partition and one over all of it. Fails if a job wrote other than one row per record it read.
peer_run() {
  local name=$1 quarter="" all="" p o q a
  while read -r p o; do
    quarter+="partition:$p,offset:$((o / 4));" all+="partition:$p,offset:$o;"
  done < <(bash deploy/local/kafka.sh end-offsets "$TOPIC")
  [ -n "$all" ] || { echo "no end offsets for $TOPIC" >&2; return 1; }
  # Called in $(...), where errexit does not reach: each failure returns by hand.
  q=$(peer_job "$name-quarter" "${quarter%;}") || return 1
  a=$(peer_job "$name-all" "${all%;}") || return 1
  python3 - "$q" "$a" <<'PY'
import json, sys
jobs = []
for arg in sys.argv[1:]:
    line, cpu = arg.rsplit(" ", 1)
    jobs.append(dict(json.loads(line), cpu=float(cpu)))
for r in jobs:
    if r["rows_written"] != r["records"]:
        sys.exit(f"the peer wrote {r['rows_written']} rows for {r['records']} records")
q, a = jobs
events, secs = a["records"] - q["records"], a["secs"] - q["secs"]
# Each job ends at a checkpoint, up to 1 s after its last record: below a few seconds that is noise.
if secs < 3:
    sys.exit(f"the peer's measured span is {secs:.1f} s, under 3 s: raise EVENTS")
print(f"{events / secs:.0f} {(a['cpu'] - q['cpu']) / events * 1e6:.2f}")
PY
}

# Each round measures the ceiling and then the sink on the same topic, one right after the other, so
# each ratio compares figures taken under the same conditions; the table reports the median ratio.
declare -A rate rss ratio cpu
ceiling=() peer=() peer_ceiling=() peer_ratio=() peer_cpu=() base=() base_rss=() base_cpu=() base_ratio=()
bytes=0
for run in $(seq 1 "$RUNS"); do
  out=$("$BIN/examples/consume_ceiling" "$TOPIC" "$EVENTS")
  bench_log "ceiling, run $run: $out"
  c=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["events_per_sec"])' "$out")
  ceiling+=("$c")
  bytes=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["bytes"])' "$out")
  for workers in $WORKERS; do
    read -r r m u _ < <(sink_run "bench-w$workers-r$run" "$workers")
    if [ "$r" = skip ]; then
      bench_log "sink, $workers worker(s), run $run: under 0.5 s in which every worker had committed and 10-90% of the topic was committed; round left out"
      continue
    fi
    bench_log "sink, $workers worker(s), run $run: $r events/s ($(python3 -c "print(f'{$r / $c:.2f}')") of the ceiling), peak RSS $m MiB, machine CPU $u µs/event"
    rate[$workers]+="$r "; rss[$workers]+="$m "; cpu[$workers]+="$u "
    ratio[$workers]+="$(python3 -c "print($r / $c)") "
    if [ "$workers" = 1 ]; then sink1=$r; fi
  done
  if [ -n "$BASELINE_BIN" ]; then
    read -r r m u _ < <(sink_run "bench-base-r$run" 1 "$BASELINE_BIN")
    if [ "$r" = skip ]; then
      bench_log "baseline, run $run: too short to measure; round left out"
    else
      bench_log "baseline ($BASELINE_BIN), 1 worker, run $run: $r events/s, peak RSS $m MiB, machine CPU $u µs/event"
      base+=("$r") base_rss+=("$m") base_cpu+=("$u")
      if [ -n "${sink1:-}" ]; then base_ratio+=("$(python3 -c "print($sink1 / $r)")"); fi
    fi
  fi
  if [ -n "$PEER" ]; then
    out=$(peer_run "peer-r$run")
    read -r p u <<<"$out"
    bench_log "peer (Flink), run $run: $p events/s ($(python3 -c "print(f'{$p / $c:.2f}')") of the ceiling), machine CPU $u µs/event"
    peer+=("$p") peer_ceiling+=("$(python3 -c "print($p / $c)")") peer_cpu+=("$u")
    if [ -n "${sink1:-}" ]; then peer_ratio+=("$(python3 -c "print($sink1 / $p)")"); fi
  fi
  unset sink1
done
# Every event written exactly once: the manifest of each run holds the whole topic.
for pipeline in $(for w in $WORKERS; do echo "bench-w$w"; done; [ -z "$BASELINE_BIN" ] || echo bench-base); do
  for run in $(seq 1 "$RUNS"); do
    n=$(psql "$BENCH_DATABASE_URL" -Atc "SELECT coalesce(sum(events), 0) FROM sink_files WHERE pipeline = '$pipeline-r$run'")
    [ "$n" -eq "$EVENTS" ] || { echo "run $pipeline-r$run wrote $n events, not $EVENTS" >&2; exit 1; }
  done
done

# The durable tracker's cost per stream count: every batch reads and extends one row per stream and
# hour in PostgreSQL, so more streams per batch means more rows per commit.
declare -A scaling scaling_rss
main_topic=$TOPIC main_events=$EVENTS
for n in $SCALING_STREAMS; do
  TOPIC="bench.sink.$BENCH_RUN.streams$n" EVENTS=$SCALING_EVENTS
  bench_log "preloading $EVENTS events over $n streams into $TOPIC"
  "$BIN/sink-worker" gen --topic "$TOPIC" --type "$TYPE" --count "$EVENTS" --streams "$n" \
    --partitions "$PARTITIONS" >/dev/null
  read -r r m _ < <(sink_run "bench-streams$n" 1)
  bench_log "sink, $n streams: $r events/s, peak RSS $m MiB"
  scaling[$n]=$r scaling_rss[$n]=$m
done
TOPIC=$main_topic EVENTS=$main_events

record=$(python3 -c "print($bytes / $EVENTS)")
ceil=$(median "${ceiling[@]}")
echo
echo "== sink throughput: $EVENTS events of $TYPE ($(printf '%.0f' "$record") bytes framed), $PARTITIONS partitions, $STREAMS streams, $RUNS runs; $(machine)"
printf '%-34s %28s %8s %24s %14s %22s\n' "what" "events/s median (min-max)" "MB/s" "ratio to ceiling, paired" \
  "peak RSS MiB" "machine CPU µs/event"
printf '%-34s %28s %8.1f %24s %14s %22s\n' "consume only (ceiling)" "$(stats "${ceiling[@]}")" \
  "$(python3 -c "print($ceil * $record / 1e6)")" "1" "-" "-"
for workers in $WORKERS; do
  [ -n "${rate[$workers]:-}" ] || { echo "full sink, $workers worker(s): no round could be measured (too few EVENTS?)" >&2; exit 1; }
  # shellcheck disable=SC2086
  med=$(median ${rate[$workers]})
  # shellcheck disable=SC2086
  measured=$(echo ${rate[$workers]} | wc -w)
  # shellcheck disable=SC2086
  printf '%-34s %28s %8.1f %24s %14s %22s\n' "full sink, $workers worker(s), $measured of $RUNS" "$(stats ${rate[$workers]})" \
    "$(python3 -c "print($med * $record / 1e6)")" "$(ratios ${ratio[$workers]})" "$(stats ${rss[$workers]})" \
    "$(ratios ${cpu[$workers]})"
done
if [ ${#base[@]} -gt 0 ]; then
  printf '%-34s %28s %8.1f %24s %14s %22s\n' "baseline build, 1 worker" "$(stats "${base[@]}")" \
    "$(python3 -c "print($(median "${base[@]}") * $record / 1e6)")" "-" "$(stats "${base_rss[@]}")" \
    "$(ratios "${base_cpu[@]}")"
  echo "full sink with 1 worker / baseline build, paired by round: $(ratios "${base_ratio[@]}")"
fi
if [ -n "$PEER" ]; then
  printf '%-34s %28s %8.1f %24s %14s %22s\n' "peer: Apache Flink SQL" "$(stats "${peer[@]}")" \
    "$(python3 -c "print($(median "${peer[@]}") * $record / 1e6)")" \
    "$(ratios "${peer_ceiling[@]}")" "-" "$(ratios "${peer_cpu[@]}")"
  if [ ${#peer_ratio[@]} -gt 0 ]; then
    echo "full sink with 1 worker / peer, paired by round: $(ratios "${peer_ratio[@]}")"
  else
    echo "full sink with 1 worker / peer: not measured (no round measured one worker)"
  fi
fi
if [ -n "$SCALING_STREAMS" ]; then
  echo
  echo "== durable stream tracking: $SCALING_EVENTS events, one worker, one run each"
  printf '%-34s %28s %8s %24s %14s\n' "streams" "events/s" "" "" "peak RSS MiB"
  for n in $SCALING_STREAMS; do
    if [ "${scaling[$n]}" = skip ]; then
      measured="not measured: under 0.5 s (raise SCALING_EVENTS)"
    else
      measured=$(python3 -c "print(f'{${scaling[$n]}:,}')")
    fi
    printf '%-34s %28s %8s %24s %14s\n' "$n" "$measured" "" "" "${scaling_rss[$n]}"
  done
fi
