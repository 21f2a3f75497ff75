#!/usr/bin/env bash
# Installs the ingestion benchmark's peer (benches/ingest/run.sh): an OpenTelemetry Collector built
# from the Go module proxy with only the OTLP receiver and the Kafka exporter (benches/ingest/peer:
# main.go, go.mod and go.sum pin every module). Idempotent; prints the binary's path.
# Nothing of the peer is committed but its source: this script is how it gets here.
#
# Why not Strimzi's Kafka Bridge, the peer first planned: Maven Central, as reached from here, answers
# "not found" for io.strimzi:kafka-bridge (its pom, its jar and its version list), and its release
# archive comes from elsewhere, which this project may not download from.
SERVICE=peer
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/common.sh"
HERE=$MURRON_ROOT/benches/ingest/peer
want=$(cat "$HERE/main.go" "$HERE/go.mod" "$HERE/go.sum" | sha256sum | cut -c1-16)
PEER=$MURRON_TOOLS/otelcol-peer-$want
if [ ! -x "$PEER/otelcol-peer" ]; then
  command -v go >/dev/null || die "the peer is built with Go (1.25 or newer), which is not installed"
  log "building the OpenTelemetry Collector peer into $PEER (a few minutes the first time)"
  mkdir -p "$PEER"
  (cd "$HERE" && go build -trimpath -o "$PEER/otelcol-peer.tmp" .) >"$PEER/build.log" 2>&1 \
    || { tail -n 30 "$PEER/build.log" >&2; die "go build of the peer failed"; }
  mv "$PEER/otelcol-peer.tmp" "$PEER/otelcol-peer"
fi
echo "$PEER/otelcol-peer"
