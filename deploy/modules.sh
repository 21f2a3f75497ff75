#!/usr/bin/env bash
# Module import cycles (docs/ARCHITECTURE.md, "Layout rules"): cargo-modules draws each library crate's
# graph of `use` edges between its modules, and tsort fails on any loop in it. A module that imports
# from a module that imports from it, directly or around a longer loop, fails the check, parents and
# children included. (cargo-modules' own --acyclic also counts a type and its methods as a loop, so
# the graph is checked here instead.)
# Usage: deploy/modules.sh [PACKAGE ...]   (all library crates of the workspace by default)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local/common.sh"
SERVICE=modules
cd "$MURRON_ROOT"

# 0.27 is the newest that builds with Rust 1.95.
CARGO_MODULES_VERSION=0.27.0
BIN=$(cargo_tool cargo-modules "$CARGO_MODULES_VERSION")/cargo-modules

packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(murron-wire murron-payload murron-schema-types murron-connect murron-ingest-proto murron-producer murron-server schema-registry sink-worker murron-fuzz murron-ingest-bench)
failed=0
for package in "${packages[@]}"; do
  graph=$("$BIN" dependencies --lib -p "$package" --no-externs --no-sysroot --no-fns --no-traits --no-types --no-owns) \
    || die "cargo-modules could not read $package"
  # `"a::b" -> "a::c" [label="uses", ...]` becomes the pair `a::b a::c`.
  edges=$(sed -nE 's/^ *"([^"]+)" -> "([^"]+)" \[label="uses".*/\1 \2/p' <<<"$graph")
  modules=$(wc -l <<<"$edges")
  if loops=$(tsort <<<"$edges" 2>&1 >/dev/null) && [ -z "$loops" ]; then
    echo "$package: no module import cycles ($modules use edges between modules)"
  else
    echo "$package: module import cycle(s) among:"
    grep -v 'input contains a loop' <<<"$loops" | sed 's/^tsort: /  /'
    failed=1
  fi
done
exit $failed
