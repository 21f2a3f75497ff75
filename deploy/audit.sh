#!/usr/bin/env bash
# Dependency audit with cargo-deny (deny.toml): licenses, banned crates and sources, which need no
# network, and with `--advisories` the RustSec advisory database as well, which cargo-deny fetches
# from GitHub. `make test` runs the offline checks; `make audit` runs them all.
# Usage: deploy/audit.sh [--advisories]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local/common.sh"
SERVICE=audit
cd "$MURRON_ROOT"

CARGO_DENY_VERSION=0.20.2
BIN=$(cargo_tool cargo-deny "$CARGO_DENY_VERSION")/cargo-deny

checks=(bans licenses sources)
offline=()
case "${1:-}" in
  --advisories)
    checks+=(advisories)
    # Without a route to GitHub, check against the copy fetched last, if there is one.
    if ! "$BIN" deny fetch db >/dev/null 2>&1; then
      log "cannot fetch the RustSec advisory database from GitHub; using the local copy"
      offline=(--offline)
    fi
    db=$(ls -d "$HOME"/.cargo/advisory-dbs/advisory-db-* 2>/dev/null | head -n 1)
    [ -n "$db" ] || die "no RustSec advisory database: it is fetched from GitHub, which is not reachable"
    log "RustSec advisory database as of $(git -C "$db" log -1 --format=%cs)"
    ;;
  "") ;;
  *) die "usage: $0 [--advisories]" ;;
esac
"$BIN" deny "${offline[@]}" check "${checks[@]}"
