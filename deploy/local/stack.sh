#!/usr/bin/env bash
# The whole local stack: PostgreSQL, Kafka (KRaft) and an S3 server, all on 127.0.0.1, no Docker.
# Usage: stack.sh up|down|status|install|env
#   up      install what is missing, then start every service (a second `up` is a no-op)
#   down    stop every service (data is kept under .local/)
#   status  print each service's state and address; exits non-zero if one is down
#   env     print the environment variables the binaries and tests read
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE=$MURRON_ROOT/deploy/local
SERVICES=(postgres kafka s3)

case "${1:-}" in
  install) for s in "${SERVICES[@]}"; do bash "$HERE/$s.sh" install; done ;;
  up)
    for s in "${SERVICES[@]}"; do bash "$HERE/$s.sh" start || die "$s did not start"; done
    bash "$0" status
    ;;
  down)
    # The demo leaves its reliability monitor running for the dashboard.
    if [ -f "$MURRON_STATE/demo-monitor.pid" ]; then
      kill "$(cat "$MURRON_STATE/demo-monitor.pid")" 2>/dev/null || true
      rm -f "$MURRON_STATE/demo-monitor.pid"
    fi
    for s in "${SERVICES[@]}"; do bash "$HERE/$s.sh" stop; done
    ;;
  status)
    rc=0
    for s in "${SERVICES[@]}"; do bash "$HERE/$s.sh" status || rc=1; done
    exit $rc
    ;;
  env)
    cat <<ENV
export MURRON_DATABASE_URL=$(bash "$HERE/postgres.sh" url)
export MURRON_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export MURRON_KAFKA_SASL_SSL_BROKERS=127.0.0.1:$KAFKA_SSL_PORT
export MURRON_KAFKA_CA=$MURRON_STATE/kafka/tls/ca.pem
export MURRON_KAFKA_SASL_USER=$KAFKA_SASL_USER
export MURRON_KAFKA_SASL_PASSWORD=$KAFKA_SASL_PASSWORD
export MURRON_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export MURRON_S3_ACCESS_KEY=$S3_ACCESS_KEY
export MURRON_S3_SECRET_KEY=$S3_SECRET_KEY
ENV
    ;;
  *) die "usage: $0 up|down|status|install|env" ;;
esac
