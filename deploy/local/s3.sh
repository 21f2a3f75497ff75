#!/usr/bin/env bash
# An S3-compatible server on 127.0.0.1:$S3_PORT: s3s-fs (crates.io), which serves the S3 HTTP API,
# SigV4 auth and multipart upload included, over a plain folder. Why this one: docs/LOCAL_STACK.md.
# Usage: s3.sh install|start|stop|status|delete-prefix BUCKET PREFIX
SERVICE=s3
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BIN=$MURRON_TOOLS/s3s-fs-$S3_FS_VERSION/bin/s3s-fs
DIR=$MURRON_STATE/s3
PIDFILE=$DIR/s3s-fs.pid

install() {
  cargo_tool s3s-fs "$S3_FS_VERSION" --features binary >/dev/null
}

start() {
  install
  if pid_alive "$PIDFILE" && port_open "$S3_PORT"; then log "already running"; return 0; fi
  port_open "$S3_PORT" && die "127.0.0.1:$S3_PORT is taken by another process"
  mkdir -p "$DIR/data"
  log "starting s3s-fs over $DIR/data"
  RUST_LOG=${S3_LOG:-warn} nohup "$BIN" --host 127.0.0.1 --port "$S3_PORT" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$DIR/data" >"$DIR/s3s-fs.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_port "$S3_PORT" 20 "$DIR/s3s-fs.log"
}

stop() { stop_pid "$PIDFILE"; }

status() {
  if pid_alive "$PIDFILE" && port_open "$S3_PORT"; then
    echo "s3         up    http://127.0.0.1:$S3_PORT (s3s-fs, pid $(cat "$PIDFILE"), data $DIR/data)"
  else
    echo "s3         down  http://127.0.0.1:$S3_PORT"; return 1
  fi
}

# s3 CURL_ARGS...: one signed request to the local server (curl's SigV4, no other client needed).
s3() {
  curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

# delete_prefix BUCKET PREFIX: delete every object whose key starts with PREFIX. A missing bucket is
# nothing to delete. Lists a page, deletes it and lists again, until nothing is left.
delete_prefix() {
  [ -n "${1:-}" ] && [ -n "${2:-}" ] || die "usage: $0 delete-prefix BUCKET PREFIX (a non-empty prefix)"
  local bucket=$1 prefix=$2 url="http://127.0.0.1:$S3_PORT/$1" listing keys deleted=0 before=-1
  s3 -o /dev/null -I "$url" 2>/dev/null || return 0
  while :; do
    listing=$(s3 "$url?list-type=2&prefix=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$prefix")")
    keys=$(python3 -c 'import sys,xml.etree.ElementTree as E; [print(k.text) for k in E.fromstring(sys.stdin.read()).iter() if k.tag.endswith("}Key")]' <<<"$listing")
    [ -z "$keys" ] && break
    # A page that deletes nothing would loop forever.
    [ "$deleted" = "$before" ] && die "objects under $bucket/$prefix could not be deleted"
    before=$deleted
    while IFS= read -r key; do
      s3 -o /dev/null -X DELETE "$url/$key" && deleted=$((deleted + 1))
    done <<<"$keys"
  done
  log "deleted $deleted objects under s3://$bucket/$prefix"
}

case "${1:-}" in
  install|start|stop|status) "$1" ;;
  delete-prefix) shift; delete_prefix "$@" ;;
  *) die "usage: $0 install|start|stop|status|delete-prefix BUCKET PREFIX" ;;
esac
