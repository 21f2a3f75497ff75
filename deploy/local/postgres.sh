#!/usr/bin/env bash
# PostgreSQL from Debian's packages: a dedicated cluster "$PG_CLUSTER" on 127.0.0.1:$PG_PORT whose
# data and log live under the checkout's state folder, managed with pg_createcluster/pg_ctlcluster.
# Usage: postgres.sh install|start|stop|status|url
SERVICE=postgres
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIR=$MURRON_STATE/postgres

install() {
  command -v pg_createcluster >/dev/null && [ -n "$(ls /usr/lib/postgresql 2>/dev/null)" ] && return 0
  log "installing postgresql from Debian's packages"
  apt_install postgresql
}

pg_version() {
  [ -n "$PG_VERSION" ] && { echo "$PG_VERSION"; return; }
  ls /usr/lib/postgresql | sort -n | tail -n 1
}

cluster_datadir() { pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$PG_CLUSTER" '$1==v && $2==c {print $6}'; }

start() {
  install
  local v datadir
  v=$(pg_version)
  datadir=$(cluster_datadir "$v")
  # A cluster of this name left by another checkout points elsewhere, or at a data directory that was
  # deleted with its checkout: replace it with ours.
  if [ -n "$datadir" ] && { [ "$datadir" != "$DIR/data" ] || [ ! -d "$datadir" ]; }; then
    log "replacing cluster $v/$PG_CLUSTER at $datadir"
    pg_dropcluster --stop "$v" "$PG_CLUSTER"
    datadir=
  fi
  if [ -z "$datadir" ]; then
    log "creating cluster $v/$PG_CLUSTER in $DIR/data"
    mkdir -p "$DIR" && chown postgres:postgres "$DIR"
    pg_createcluster "$v" "$PG_CLUSTER" -d "$DIR/data" -l "$DIR/postgresql.log" -p "$PG_PORT" \
      -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    cat >"/etc/postgresql/$v/$PG_CLUSTER/conf.d/murron.conf" <<CONF
listen_addresses = '127.0.0.1'
max_connections = 200
CONF
  fi
  if pg_lsclusters -h | awk -v v="$v" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}' | grep -q online; then
    log "already running"
  else
    log "starting cluster $v/$PG_CLUSTER"
    pg_ctlcluster "$v" "$PG_CLUSTER" start || { tail -n 30 "$DIR/postgresql.log" >&2; die "pg_ctlcluster start failed"; }
  fi
  wait_port "$PG_PORT" 30 "$DIR/postgresql.log"
  # Role and database: created once, password reset every time so the URL below always works.
  # CREATEROLE: tests make roles with passwords of their own (tests/interop/test_secrets_interop.py).
  su postgres -c "psql -q -p $PG_PORT -v ON_ERROR_STOP=1" <<SQL
SELECT 'CREATE ROLE $PG_USER LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER')\gexec
ALTER ROLE $PG_USER WITH LOGIN PASSWORD '$PG_PASSWORD' CREATEDB CREATEROLE;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
SQL
}

stop() {
  local v; v=$(pg_version)
  [ -n "$(cluster_datadir "$v")" ] && pg_ctlcluster "$v" "$PG_CLUSTER" stop 2>/dev/null || true
}

url() { echo "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"; }

status() {
  if port_open "$PG_PORT" && PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -Atqc 'select 1' >/dev/null 2>&1; then
    echo "postgres   up    127.0.0.1:$PG_PORT ($(url | sed 's/:[^:@]*@/:***@/'), data $DIR/data)"
  else
    echo "postgres   down  127.0.0.1:$PG_PORT"; return 1
  fi
}

case "${1:-}" in
  install|start|stop|status|url) "$1" ;;
  *) die "usage: $0 install|start|stop|status|url" ;;
esac
