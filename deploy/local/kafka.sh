#!/usr/bin/env bash
# Apache Kafka 4.x, single node in KRaft mode, on 127.0.0.1:$KAFKA_PORT (plaintext) and
# 127.0.0.1:$KAFKA_SSL_PORT (TLS with SASL/PLAIN).
# The jars come from Maven Central (deploy/local/kafka/pom.xml); Java 17+ runs them.
# Usage: kafka.sh install|start|stop|status|topic NAME PARTITIONS|delete-topics REGEX|end-offsets TOPIC
SERVICE=kafka
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HERE=$MURRON_ROOT/deploy/local/kafka
LIB=$MURRON_TOOLS/kafka-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")/lib
DIR=$MURRON_STATE/kafka
PIDFILE=$DIR/kafka.pid

java_bin() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v java
}

install() {
  if [ -f "$LIB/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || apt_install maven
  log "resolving Kafka jars from Maven Central into $LIB"
  rm -rf "$LIB" && mkdir -p "$LIB"
  mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIB" >"$MURRON_TOOLS/kafka-mvn.log" 2>&1 \
    || { tail -n 30 "$MURRON_TOOLS/kafka-mvn.log" >&2; die "mvn could not resolve Kafka"; }
  touch "$LIB/.complete"
}

# tls: a self-signed certificate for 127.0.0.1 in a PKCS12 keystore, and its PEM for clients (ca.pem).
TLS_DIR=$DIR/tls
TLS_PASSWORD=murron-local-tls
tls() {
  [ -f "$TLS_DIR/ca.pem" ] && return 0
  local keytool
  keytool=$(dirname "$(readlink -f "$(java_bin)")")/keytool
  mkdir -p "$TLS_DIR"
  rm -f "$TLS_DIR/broker.p12"
  "$keytool" -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
    -dname "CN=127.0.0.1" -ext "SAN=ip:127.0.0.1,dns:localhost" \
    -keystore "$TLS_DIR/broker.p12" -storetype PKCS12 -storepass "$TLS_PASSWORD" >/dev/null 2>&1 \
    || die "keytool could not create the broker's certificate"
  "$keytool" -exportcert -rfc -alias broker -keystore "$TLS_DIR/broker.p12" -storepass "$TLS_PASSWORD" \
    >"$TLS_DIR/ca.pem.tmp" 2>/dev/null || die "keytool could not export the broker's certificate"
  mv "$TLS_DIR/ca.pem.tmp" "$TLS_DIR/ca.pem"
}

run_class() { "$(java_bin)" -Xmx256m -cp "$LIB/*" -Dlog4j2.configurationFile="$HERE/log4j2.yaml" -Dkafka.logs.dir="$DIR/logs/tools" "$@"; }

start() {
  install
  if pid_alive "$PIDFILE" && port_open "$KAFKA_PORT"; then log "already running"; return 0; fi
  port_open "$KAFKA_PORT" && die "127.0.0.1:$KAFKA_PORT is taken by another process"
  port_open "$KAFKA_SSL_PORT" && die "127.0.0.1:$KAFKA_SSL_PORT is taken by another process"
  mkdir -p "$DIR/data" "$DIR/logs"
  tls
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@KAFKA_SSL_PORT@|$KAFKA_SSL_PORT|g" -e "s|@KAFKA_SASL_USER@|$KAFKA_SASL_USER|g" \
      -e "s|@KAFKA_SASL_PASSWORD@|$KAFKA_SASL_PASSWORD|g" -e "s|@TLS_DIR@|$TLS_DIR|g" \
      -e "s|@TLS_PASSWORD@|$TLS_PASSWORD|g" -e "s|@DATA_DIR@|$DIR/data|g" \
      "$HERE/server.properties.in" >"$DIR/server.properties"
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(run_class kafka.tools.StorageTool random-uuid)
    log "formatting storage with cluster id $cluster_id"
    run_class kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$DIR/server.properties" \
      >"$DIR/logs/format.log" 2>&1 || { cat "$DIR/logs/format.log" >&2; die "storage format failed"; }
  fi
  log "starting broker (heap $KAFKA_HEAP)"
  nohup "$(java_bin)" -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HERE/log4j2.yaml" -Dkafka.logs.dir="$DIR/logs" \
    -cp "$LIB/*" kafka.Kafka "$DIR/server.properties" >"$DIR/logs/stdout.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_port "$KAFKA_PORT" 90 "$DIR/logs/server.log"
  # The port opens before the broker has registered with the controller; wait until it serves metadata.
  for _ in $(seq 1 60); do
    run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "broker does not answer metadata requests; see $DIR/logs/server.log"
}

stop() { stop_pid "$PIDFILE"; }

status() {
  if pid_alive "$PIDFILE" && port_open "$KAFKA_PORT"; then
    echo "kafka      up    127.0.0.1:$KAFKA_PORT (KRaft, pid $(cat "$PIDFILE"), data $DIR/data; SASL_SSL on $KAFKA_SSL_PORT)"
  else
    echo "kafka      down  127.0.0.1:$KAFKA_PORT"; return 1
  fi
}

# topic NAME PARTITIONS: create a topic if it does not exist.
topic() {
  run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
    --create --if-not-exists --topic "$1" --partitions "${2:-1}" --replication-factor 1
}

# delete_topics REGEX: delete every topic whose whole name matches REGEX (Kafka frees the disk soon after).
delete_topics() {
  [ -n "${1:-}" ] || die "usage: $0 delete-topics REGEX"
  run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
    --delete --if-exists --topic "$1"
}

# end_offsets TOPIC: "partition offset" per line, the offset one past each partition's last record.
# GetOffsetShell prints "topic:partition:offset"; a topic name cannot hold a colon.
end_offsets() {
  [ -n "${1:-}" ] || die "usage: $0 end-offsets TOPIC"
  run_class org.apache.kafka.tools.GetOffsetShell --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
    --topic "$1" --time latest \
    | awk -F: -v topic="$1" '$1 == topic { print $2, $3 }' | sort -n
}

case "${1:-}" in
  install|start|stop|status) "$1" ;;
  topic) shift; topic "$@" ;;
  delete-topics) shift; delete_topics "$@" ;;
  end-offsets) shift; end_offsets "$@" ;;
  *) die "usage: $0 install|start|stop|status|topic NAME PARTITIONS|delete-topics REGEX|end-offsets TOPIC" ;;
esac
