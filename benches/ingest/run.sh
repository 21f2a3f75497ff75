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
# Usage: benches/ingest/run.sh   (EVENTS=1000000 BATCH=1000 IN_FLIGHT=8 PEAK_SECS=30 WARMUP_SECS=3
# PACED_SECS=20 PARTITIONS=8 STREAMS=64 COMPRESSION=none PEER=otelcol; PEER= skips the peer, OURS=0
# murron-server; MURRON_SERVER_BIN=path runs that murron-server instead of this checkout's build)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
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
GRPC_PORT=${GRPC_PORT:-19480}
HTTP_PORT=${HTTP_PORT:-19481}
PEER_PORT=${PEER_PORT:-19417}
KEY_SECRET=bench-secret

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

# drive NAME KIND URL: the load driver against one endpoint; its result lines go to $BENCH_TMP/NAME.out.
drive() {
  "$BIN/murron-ingest-bench" --target "$2" --url "$3" --events "$EVENTS" --batch "$BATCH" \
    --in-flight "$IN_FLIGHT" --streams "$STREAMS" --key "default=$KEY_SECRET" --peak-secs "$PEAK_SECS" \
    --warmup-secs "$WARMUP_SECS" --paced-secs "$PACED_SECS" | tee "$BENCH_TMP/$1.out"
}

# check_stored NAME TOPIC: every accepted event, and nothing more, is in the topic.
check_stored() {
  local accepted stored
  accepted=$(sed -n "s/^$1 total_accepted=//p" "$BENCH_TMP/$1.out")
  stored=$(topic_events "$2")
  if [ "$accepted" != "$stored" ]; then
    echo "$1: accepted $accepted events but $2 holds $stored" >&2
    return 1
  fi
  bench_log "$1: $2 holds the $stored events it accepted"
}

# stop PID: SIGTERM (a graceful drain), then wait.
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# --- ours
if [ "$OURS" = 1 ]; then
  bash deploy/local/kafka.sh topic "$TOPIC.murron" "$PARTITIONS" >/dev/null
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
topic = "$TOPIC.murron"
TOML
  bench_log "murron-server ($SERVER) on 127.0.0.1:$GRPC_PORT, into $TOPIC.murron ($PARTITIONS partitions)"
  RUST_LOG=${RUST_LOG:-warn} "$SERVER" serve --config "$BENCH_TMP/server.toml" >"$BENCH_TMP/server.log" 2>&1 &
  server=$!
  BENCH_PIDS+=("$server")
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$BENCH_TMP/server.log" >&2; echo "murron-server exited" >&2; exit 1; }
    sleep 0.05
  done
  curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || { cat "$BENCH_TMP/server.log" >&2; echo "murron-server is not ready" >&2; exit 1; }
  server_cpu0=$(awk '{ print $14 + $15 }' "/proc/$server/stat")
  drive murron murron "http://127.0.0.1:$GRPC_PORT"
  server_cpu=$(( $(awk '{ print $14 + $15 }' "/proc/$server/stat") - server_cpu0 ))
  server_rss=$(peak_rss_mib "$server")
  stop "$server"
  check_stored murron "$TOPIC.murron"
fi

# --- the peer
if [ -n "$PEER" ]; then
  bash deploy/local/kafka.sh topic "$TOPIC.peer" "$PARTITIONS" >/dev/null
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
      topic: $TOPIC.peer
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
  bench_log "peer: OpenTelemetry Collector ($PEER_BIN) on 127.0.0.1:$PEER_PORT, into $TOPIC.peer"
  "$PEER_BIN" --config "$BENCH_TMP/peer.yaml" >"$BENCH_TMP/peer.log" 2>&1 &
  peer=$!
  BENCH_PIDS+=("$peer")
  wait_port "$PEER_PORT" "$peer" "$BENCH_TMP/peer.log"
  peer_cpu0=$(awk '{ print $14 + $15 }' "/proc/$peer/stat")
  drive peer otlp "http://127.0.0.1:$PEER_PORT"
  peer_cpu=$(( $(awk '{ print $14 + $15 }' "/proc/$peer/stat") - peer_cpu0 ))
  peer_rss=$(peak_rss_mib "$peer")
  stop "$peer"
  check_stored peer "$TOPIC.peer"
fi

# row NAME LABEL CPU_TICKS RSS: one table row from the driver's lines; CPU is the endpoint process's
# own (user + system) over both runs, per event it accepted.
row() {
  python3 - "$BENCH_TMP/$1.out" "$2" "$3" "$(getconf CLK_TCK)" "$4" <<'PY'
import re, sys
out, label, ticks, hz, rss = sys.argv[1:]
f = {}
for line in open(out):
    # "NAME dataset|peak|paced k=v ..." and "NAME total_accepted=N"
    part = line.split()[1].split("=")[0]
    for k, v in re.findall(r"(\w+)=([\d.]+)", line):
        f[f"{part}.{k}"] = float(v)
print(f"{label:<44} {f['peak.events_per_sec']:>12,.0f} {f['paced.events_per_sec']:>10,.0f} {f['paced.p50_ms']:>8.2f} "
      f"{f['paced.p99_ms']:>8.2f} {f['paced.max_ms']:>8.2f} {int(f['paced.late_batches']):>5} "
      f"{int(ticks) / int(hz) / f['total_accepted.total_accepted'] * 1e6:>10.2f} {rss:>8}")
PY
}

event_bytes=$(sed -n 's/.* dataset .*event_bytes=\([0-9.]*\).*/\1/p' "$BENCH_TMP"/*.out | head -n 1)
echo "== ingestion edge: $EVENTS pre-encoded events of $event_bytes bytes, gRPC batches of $BATCH, $IN_FLIGHT calls in flight at peak, $PEAK_SECS s peak + $PACED_SECS s at half of it, $PARTITIONS partitions, compression $COMPRESSION; $(machine)"
printf '%-44s %12s %10s %8s %8s %8s %5s %10s %8s\n' endpoint "peak ev/s" "paced ev/s" "p50 ms" "p99 ms" "max ms" late "CPU µs/ev" "RSS MiB"
if [ "$OURS" = 1 ]; then row murron "murron-server (Ingest/Publish)" "$server_cpu" "$server_rss"; fi
if [ -n "$PEER" ]; then row peer "peer: OpenTelemetry Collector (OTLP->Kafka)" "$peer_cpu" "$peer_rss"; fi
if [ "$OURS" = 1 ] && [ -n "$PEER" ]; then
  python3 - "$BENCH_TMP/murron.out" "$BENCH_TMP/peer.out" <<'PY'
import re, sys
peak = [float(re.search(r"peak events_per_sec=([\d.]+)", open(p).read()).group(1)) for p in sys.argv[1:]]
print(f"ours / peer, peak events/s: {peak[0] / peak[1]:.2f} (target: at least 3)")
PY
fi
if [ "$OURS" = 1 ]; then python3 - "$BENCH_TMP/murron.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
peak = float(re.search(r"peak events_per_sec=([\d.]+)", t).group(1))
p99 = float(re.search(r"p99_ms=([\d.]+)", t).group(1))
print(f"ours: peak {peak:,.0f} events/s (target: at least 200,000); p99 at half peak {p99:.2f} ms (target: at most 20 ms)")
PY
fi
