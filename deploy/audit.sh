#!/usr/bin/env bash
# Dependency audit with cargo-deny (deny.toml): licenses, banned crates, sources and the RustSec
# advisories, with no network. The advisories come from the offline copy of the RustSec database
# beside the checkout, ../shared/rustsec-advisory-db (described in ../shared/rustsec-advisory-db.md
# and refreshed from outside), which cargo-deny reads as a throwaway git repository made from it in
# ~/.cache/murron/advisory-dbs (deny.toml's db-path). It prints the database's commit and date, and
# fails on any advisory that applies; a probe with a known vulnerability shows the check is live.
# `make test`, and so CI, runs it.
# With --latest (`make audit`), cargo-deny first fetches the newest database from GitHub into the
# same folder, and the check falls back to the copy when GitHub is unreachable.
# Usage: deploy/audit.sh [--latest]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local/common.sh"
SERVICE=audit
cd "$MURRON_ROOT"

CARGO_DENY_VERSION=0.20.2
BIN=$(cargo_tool cargo-deny "$CARGO_DENY_VERSION")/cargo-deny

COPY=${MURRON_ADVISORY_COPY:-$MURRON_ROOT/../shared/rustsec-advisory-db}
if [ -d "$COPY" ]; then COPY=$(cd "$COPY" && pwd); fi
# deny.toml's db-path, and the folder cargo-deny names after the database's URL in it (db-urls is
# left at its default, GitHub's RustSec repository): the URL's last segment and its XxHash64, as
# cargo-deny's url_to_db_path computes them. A wrong name fails loudly: cargo-deny says it found no
# repository there.
DBS=$HOME/.cache/murron/advisory-dbs
DB=$DBS/advisory-db-3157b0e258782691
UPSTREAM=https://github.com/RustSec/advisory-db

# The copy has no .git, so its commit and date are those ../shared/rustsec-advisory-db.md states.
copy_commit() { { grep -Eo 'commit [0-9a-f]{40}' "$COPY.md" 2>/dev/null || true; } | head -n 1 | cut -d' ' -f2; }
copy_date() { { grep -Eo '[0-9a-f]{40} of [0-9]{4}-[0-9]{2}-[0-9]{2}' "$COPY.md" 2>/dev/null || true; } | head -n 1 | cut -d' ' -f3; }
# The data's own witness of its age: the date of its newest advisory.
newest_advisory() { { grep -rhoE '^date = "[0-9]{4}-[0-9]{2}-[0-9]{2}"' "$COPY/crates" "$COPY/rust" 2>/dev/null || true; } | cut -d'"' -f2 | sort | tail -n 1; }

# sync_copy: makes $DB a git repository of the copy's files, unless it already is one of this very
# copy (a fingerprint of its files and its .md, recorded beside the commit it produced).
sync_copy() {
  [ -d "$COPY/crates" ] \
    || die "no RustSec advisory database at $COPY: the check reads an offline copy there (../shared/rustsec-advisory-db beside the checkout, or MURRON_ADVISORY_COPY)"
  [ -n "$(find "$COPY/crates" -name '*.md' -print -quit)" ] || die "the RustSec advisory database at $COPY holds no advisories"
  local fp head
  fp=$({ tar -C "$COPY" -cf - --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner .; cat "$COPY.md" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)
  head=$(git -C "$DB" rev-parse -q --verify HEAD 2>/dev/null || true)
  if [ -n "$head" ] && [ "$(cat "$DB/.git/murron-copy" 2>/dev/null)" = "$fp $head" ]; then
    return 0
  fi
  log "making a git repository of $COPY for cargo-deny in $DB"
  local tmp=$DB.new.$$ commit date
  commit=$(copy_commit) date=$(copy_date)
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # The copy is read-only; the cache must stay writable, for git and for rm.
  cp -R --no-preserve=mode,ownership "$COPY/." "$tmp/"
  git -C "$tmp" init -q -b main
  # For --latest: cargo-deny fetches `main` from origin into an existing repository.
  git -C "$tmp" remote add origin "$UPSTREAM"
  git -C "$tmp" add -A
  GIT_AUTHOR_DATE=${date:+${date}T00:00:00Z} GIT_COMMITTER_DATE=${date:+${date}T00:00:00Z} \
    git -C "$tmp" -c user.name=murron -c user.email=murron@localhost -c core.hooksPath=/dev/null \
    -c commit.gpgsign=false commit -q --no-verify -m "RustSec advisory-db ${commit:-(commit unknown)}, copied from $COPY"
  echo "$fp $(git -C "$tmp" rev-parse HEAD)" >"$tmp/.git/murron-copy"
  rm -rf "$DB"
  mv "$tmp" "$DB"
}

# probe: the check must be live, so a graph that holds smallvec 1.6.0 (RUSTSEC-2021-0003, a heap
# overflow) must fail it, against the same database and deny.toml. cargo-deny reads the probe's
# dependency graph from deploy/audit-probe.json (cargo metadata's format), so nothing is downloaded;
# it still wants a Cargo.toml beside it, and tries a `cargo fetch` there that fails offline, unheard.
probe() {
  local dir out rc=0
  dir=$(mktemp -d)
  printf '[package]\nname = "audit-probe"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n' >"$dir/Cargo.toml"
  sed "s|@ROOT@|$dir|g" deploy/audit-probe.json >"$dir/metadata.json"
  out=$("$BIN" deny --offline --color never --manifest-path "$dir/Cargo.toml" --metadata-path "$dir/metadata.json" \
    --config "$MURRON_ROOT/deny.toml" check advisories 2>&1) || rc=$?
  rm -rf "$dir"
  if [ "$rc" -eq 0 ] || ! grep -q 'ID: RUSTSEC-2021-0003' <<<"$out"; then
    printf '%s\n' "$out" >&2
    die "the advisory check is not live: it does not find RUSTSEC-2021-0003 in the probe (smallvec 1.6.0)"
  fi
  log "probe: the check finds RUSTSEC-2021-0003 in smallvec 1.6.0, as it must"
}

latest=false
case "${1:-}" in
  --latest) latest=true ;;
  "") ;;
  *) die "usage: $0 [--latest]" ;;
esac

mkdir -p "$DBS"
# One audit at a time on this machine: checkouts share the database's folder.
exec 9>"$DBS/murron-audit.lock"
flock 9

fetched=false
if $latest; then
  if timeout 300 "$BIN" deny fetch db >/dev/null 2>&1; then
    fetched=true
    log "RustSec advisory database: commit $(git -C "$DB" log -1 --format='%H of %cs'), fetched from $UPSTREAM just now"
  else
    log "cannot fetch the RustSec advisory database from GitHub; using the offline copy"
  fi
fi
if ! $fetched; then
  sync_copy
  # cargo-deny refuses, offline, a database not updated for 90 days, timing the last update by
  # .git/FETCH_HEAD; that would be the age of the throwaway repository, not of the data. The
  # repository was just checked against its source, the copy, so it is up to date; the data's own
  # age is printed here instead.
  git -C "$DB" rev-parse HEAD >"$DB/.git/FETCH_HEAD"
  commit=$(copy_commit) date=$(copy_date) newest=$(newest_advisory)
  [ -n "$date" ] || { date=$newest; log "no commit date in $COPY.md; dating the copy by its newest advisory"; }
  age=$(( ($(date -u +%s) - $(date -u -d "$date" +%s)) / 86400 ))
  log "RustSec advisory database: commit ${commit:-unknown} of $date ($age days old; newest advisory $newest), offline copy $COPY"
  if [ "$age" -gt 90 ]; then
    log "the copy is more than 90 days old: advisories published since $date are not checked"
  fi
fi

probe
"$BIN" deny --offline check bans licenses sources advisories
