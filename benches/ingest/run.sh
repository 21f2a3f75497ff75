#!/usr/bin/env bash
# Ingestion edge (issue 22): events/s through one murron-server into Kafka, and the time from publish
# to acknowledgement at half that rate; then the same job through the peer, in the same run.
#
# The load driver (benches/ingest, murron-ingest-bench) encodes and signs EVENTS envelopes (the
# client.api_call payload size, 64 streams) before any timing, then:
# - peak: IN_FLIGHT loops each send a batch of BATCH events and wait for its answer; the events of the
#   answers received in PEAK_SECS (after WARMUP_SECS) count, and only events the endpoint says it
#   stored: a refused or not-stored event stops the run with an error;
# - paced: one batch every BATCH/rate seconds at half that peak, open loop, for PACED_SECS; the
#   latency of each call, from handing the batch to the gRPC client to its answer. Every event of a
#   batch is acknowledged by that one answer, so this is also each event's publish-to-ack time.
# After each endpoint's runs, the events in its topic (end offsets) must equal the events it accepted.
#
# Ours: murron-server, gRPC `Ingest/Publish`, an idempotent producer with acks=all; it answers after
# Kafka acknowledged every event. The peer: an OpenTelemetry Collector (OTLP/gRPC receiver, Kafka
# exporter; benches/ingest/install-peer.sh says why not Strimzi's Kafka Bridge) with the same batches as
# OTLP log records whose bodies are the same record values, one resource per stream (its Kafka key),
# acks=all (franz-go: idempotent), no sending queue, so it too answers after Kafka acknowledged. Both
# produce uncompressed (COMPRESSION) to a topic of their own with PARTITIONS partitions.
#
# RUNS rounds, each ours then the peer, each endpoint started afresh on a topic of its own; the table
# gives the median and the range over rounds, and the ratio ours/peer paired by round.
#
# Usage: benches/ingest/run.sh   (RUNS=3 EVENTS=1000000 BATCH=1000 IN_FLIGHT=8 PEAK_SECS=30
# WARMUP_SECS=3 PACED_SECS=20 PARTITIONS=8 STREAMS=64 COMPRESSION=none PEER=otelcol; PEER= skips the
# peer, OURS=0 murron-server; MURRON_SERVER_BIN=path runs that murron-server instead of this
# checkout's build)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
RUNS=${RUNS:-3}
EVENTS=${EVENTS:-1000000}
BATCH=${BATCH:-1000}
IN_FLIGHT=${IN_FLIGHT:-8}
PEAK_SECS=${PEAK_SECS:-30}
WARMUP_SECS=${WARMUP_SECS:-3}
PACED_SECS=${PACED_SECS:-20}
PARTITIONS=${PARTITIONS:-8}
STREAMS=${STREAMS:-64}
COMPRESSION=${COMPRESSION:-none}
PEER=${PEER-otelcol}
OURS=${OURS:-1}
# free_port: a port nothing listens on now (other checkouts may run a murron-server of their own).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
GRPC_PORT=${GRPC_PORT:-$(free_port)}
HTTP_PORT=${HTTP_PORT:-$(free_port)}
PEER_PORT=${PEER_PORT:-$(free_port)}
KEY_SECRET=bench-secret
# Other work on this 2-core machine moves the figures: the header says how busy it was.
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

if [ "$OURS" != 1 ] || [ -n "${MURRON_SERVER_BIN:-}" ]; then
  bench_build -p murron-ingest-bench
  SERVER=${MURRON_SERVER_BIN:-}
else
  bench_build -p murron-ingest-bench -p murron-server
  SERVER=$BIN/murron-server
fi
case $PEER in
  otelcol) PEER_BIN=$(bash benches/ingest/install-peer.sh) ;;
  "") ;;
  *) echo "PEER=$PEER: the only peer is otelcol (or empty for none)" >&2; exit 1 ;;
esac

TOPIC="bench.ingest.$BENCH_RUN"
bench_owns_topics "bench\.ingest\.$BENCH_RUN\..*"

# topic_events TOPIC: the events in a topic, the sum of its partitions' end offsets.
topic_events() { bash deploy/local/kafka.sh end-offsets "$1" | awk '{ s += $2 } END { print s + 0 }'; }

# wait_port PORT PID LOG: until something listens on 127.0.0.1:PORT, or the process PID exits.
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  cat "$3" >&2
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# drive FILE KIND URL: the load driver against one endpoint; its result lines go to $BENCH_TMP/FILE.out.
drive() {
  "$BIN/murron-ingest-bench" --target "$2" --url "$3" --events "$EVENTS" --batch "$BATCH" \
    --in-flight "$IN_FLIGHT" --streams "$STREAMS" --key "default=$KEY_SECRET" --peak-secs "$PEAK_SECS" \
    --warmup-secs "$WARMUP_SECS" --paced-secs "$PACED_SECS" | tee "$BENCH_TMP/$1.out"
}

# check_stored FILE TOPIC: every accepted event, and nothing more, is in the topic.
check_stored() {
  local accepted stored
  accepted=$(sed -n 's/.* total_accepted=//p' "$BENCH_TMP/$1.out")
  stored=$(topic_events "$2")
  if [ "$accepted" != "$stored" ]; then
    echo "$1: accepted $accepted events but $2 holds $stored" >&2
    return 1
  fi
  bench_log "$1: $2 holds the $stored events it accepted"
}

# stop PID: SIGTERM (a graceful drain), then wait.
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# measured FILE PID: appends to FILE.out the process's CPU seconds (user + system) since MARK_CPU and its
# peak RSS, then stops it.
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
measured() {
  echo "$1 process cpu_secs=$(python3 -c "print(round($(proc_cpu "$2") - $MARK_CPU, 2))") rss_mib=$(peak_rss_mib "$2")" \
    >>"$BENCH_TMP/$1.out"
  stop "$2"
}

# ours RUN: murron-server, fresh, on its own topic.
ours() {
  local topic="$TOPIC.murron.r$1" server
  bash deploy/local/kafka.sh topic "$topic" "$PARTITIONS" >/dev/null
  cat >"$BENCH_TMP/server.toml" <<TOML
[server]
grpc_listen = "127.0.0.1:$GRPC_PORT"
http_listen = "127.0.0.1:$HTTP_PORT"
[kafka]
brokers = "$MURRON_KAFKA_BROKERS"
[kafka.properties]
"compression.type" = "$COMPRESSION"
[keys]
default = "$KEY_SECRET"
[[pipelines]]
name = "all"
default = true
topic = "$topic"
TOML
  bench_log "round $1: murron-server ($SERVER) on 127.0.0.1:$GRPC_PORT, into $topic ($PARTITIONS partitions)"
  RUST_LOG=${RUST_LOG:-warn} "$SERVER" serve --config "$BENCH_TMP/server.toml" >"$BENCH_TMP/server.log" 2>&1 &
  server=$!
  BENCH_PIDS+=("$server")
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$BENCH_TMP/server.log" >&2; echo "murron-server exited" >&2; return 1; }
    sleep 0.05
  done
  curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && kill -0 "$server" 2>/dev/null \
    || { cat "$BENCH_TMP/server.log" >&2; echo "murron-server is not ready" >&2; return 1; }
  MARK_CPU=$(proc_cpu "$server")
  drive "murron-r$1" murron "http://127.0.0.1:$GRPC_PORT"
  measured "murron-r$1" "$server"
  check_stored "murron-r$1" "$topic"
}

# peer RUN: the OpenTelemetry Collector, fresh, on its own topic.
peer() {
  local topic="$TOPIC.peer.r$1" pid
  bash deploy/local/kafka.sh topic "$topic" "$PARTITIONS" >/dev/null
  cat >"$BENCH_TMP/peer.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$PEER_PORT
        max_recv_msg_size_mib: 64
exporters:
  kafka:
    brokers: ["$MURRON_KAFKA_BROKERS"]
    logs:
      topic: $topic
      encoding: raw
    partition_logs_by_resource_attributes: true
    producer:
      required_acks: -1
      compression: $COMPRESSION
      allow_auto_topic_creation: false
    sending_queue:
      enabled: false
    retry_on_failure:
      enabled: false
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [kafka]
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
YAML
  bench_log "round $1: peer, OpenTelemetry Collector ($PEER_BIN) on 127.0.0.1:$PEER_PORT, into $topic"
  "$PEER_BIN" --config "$BENCH_TMP/peer.yaml" >"$BENCH_TMP/peer.log" 2>&1 &
  pid=$!
  BENCH_PIDS+=("$pid")
  wait_port "$PEER_PORT" "$pid" "$BENCH_TMP/peer.log"
  kill -0 "$pid" 2>/dev/null || { cat "$BENCH_TMP/peer.log" >&2; echo "the peer exited" >&2; return 1; }
  MARK_CPU=$(proc_cpu "$pid")
  drive "peer-r$1" otlp "http://127.0.0.1:$PEER_PORT"
  measured "peer-r$1" "$pid"
  check_stored "peer-r$1" "$topic"
}

for run in $(seq 1 "$RUNS"); do
  if [ "$OURS" = 1 ]; then ours "$run"; fi
  if [ -n "$PEER" ]; then peer "$run"; fi
done

echo "== ingestion edge: $EVENTS pre-encoded events of $(sed -n 's/.* dataset .*event_bytes=\([0-9.]*\).*/\1/p' "$BENCH_TMP"/*-r1.out | head -n 1) bytes, gRPC batches of $BATCH, $IN_FLIGHT calls in flight at peak, $PEAK_SECS s peak + $PACED_SECS s at half of it, $PARTITIONS partitions, compression $COMPRESSION, $RUNS runs; $(machine); load average $LOAD_AT_START before, $(cut -d' ' -f1-3 /proc/loadavg) after"
# The table: per endpoint, the median (min-max) over rounds; latencies are each round's percentile of
# its calls; CPU is the endpoint process's own over both runs of a round, per event it accepted.
python3 - "$BENCH_TMP" "$RUNS" "$OURS" "$PEER" <<'PY'
import re, statistics, sys
tmp, runs, ours, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] != ""

def read(path):
    f = {}
    for line in open(path):
        # "NAME dataset|peak|paced|process k=v ..." and "NAME total_accepted=N"
        part = line.split()[1].split("=")[0]
        for k, v in re.findall(r"(\w+)=([\d.]+)", line):
            f[f"{part}.{k}"] = float(v)
    return f

def spread(values, fmt):
    v = sorted(values)
    if len(v) == 1:
        return fmt.format(v[0])
    return f"{fmt.format(statistics.median(v))} ({fmt.format(v[0])}-{fmt.format(v[-1])})"

rows = [("murron", "murron-server (Ingest/Publish)")] if ours else []
if peer:
    rows.append(("peer", "peer: OpenTelemetry Collector (OTLP->Kafka)"))
print(f"{'endpoint':<44} {'peak events/s':>28} {'p50 ms at half':>20} {'p99 ms at half':>22} {'max ms':>7} {'late':>5} {'CPU µs/event':>18} {'RSS MiB':>8}")
peaks = {}
for name, label in rows:
    r = [read(f"{tmp}/{name}-r{i}.out") for i in range(1, runs + 1)]
    peaks[name] = [x["peak.events_per_sec"] for x in r]
    cpu = [x["process.cpu_secs"] / x["total_accepted.total_accepted"] * 1e6 for x in r]
    print(f"{label:<44} {spread(peaks[name], '{:,.0f}'):>28} {spread([x['paced.p50_ms'] for x in r], '{:.1f}'):>20} "
          f"{spread([x['paced.p99_ms'] for x in r], '{:.1f}'):>22} {max(x['paced.max_ms'] for x in r):>7.1f} "
          f"{int(sum(x['paced.late_batches'] for x in r)):>5} {spread(cpu, '{:.2f}'):>18} {max(x['process.rss_mib'] for x in r):>8.0f}")
if ours and peer:
    ratios = [m / p for m, p in zip(peaks["murron"], peaks["peer"])]
    print(f"ours / peer, peak events/s, paired by round: {spread(ratios, '{:.2f}')} (target: at least 3)")
if ours:
    r = [read(f"{tmp}/murron-r{i}.out") for i in range(1, runs + 1)]
    print(f"ours: peak {statistics.median(peaks['murron']):,.0f} events/s (target: at least 200,000); "
          f"p99 at half peak {statistics.median(x['paced.p99_ms'] for x in r):.1f} ms (target: at most 20 ms)")
PY
