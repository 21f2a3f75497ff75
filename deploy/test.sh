#!/usr/bin/env bash
# Runs every test suite against the local stack (started by `make test`) and ends with one summary
# line over all of them: the Rust unit and end-to-end tests (cargo test), the interoperability
# tests with third-party clients (pytest), and a seconds-long smoke run of the benchmark harness
# (benches/run.sh --smoke), so that it cannot rot, and the dependency audit (deploy/audit.sh: licenses,
# bans, sources and the RustSec advisories from the offline copy in ../shared, with no network).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
eval "$(bash deploy/local/stack.sh env)"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

cargo test --workspace --no-fail-fast 2>&1 | tee "$LOG"
cargo_rc=${PIPESTATUS[0]}
read -r c_pass c_fail < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p+0, f+0 }' "$LOG")

.local/venv/bin/python -m pytest tests/interop clients/python/tests --rootdir . -q -p no:cacheprovider 2>&1 | tee "$LOG"
py_rc=${PIPESTATUS[0]}
p_pass=$(grep -Eo '[0-9]+ passed' "$LOG" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
p_fail=$(grep -Eo '[0-9]+ (failed|error)' "$LOG" | awk '{ s += $1 } END { print s+0 }')

bash benches/run.sh --smoke 2>&1 | tee "$LOG"
bench_rc=${PIPESTATUS[0]}
if [ "$bench_rc" -eq 0 ]; then b_pass=1 b_fail=0; else b_pass=0 b_fail=1; fi

bash deploy/audit.sh 2>&1 | tee "$LOG"
audit_rc=${PIPESTATUS[0]}
if [ "$audit_rc" -eq 0 ]; then a_pass=1 a_fail=0; else a_pass=0 a_fail=1; fi

echo
echo "cargo test: $c_pass passed, $c_fail failed (exit $cargo_rc); pytest: $p_pass passed, $p_fail failed (exit $py_rc); benchmark smoke: exit $bench_rc; dependency audit: exit $audit_rc"
total_fail=$((c_fail + p_fail + b_fail + a_fail))
# A runner that died without counting is a failure too.
if [ "$cargo_rc" -ne 0 ] && [ "$c_fail" -eq 0 ]; then total_fail=$((total_fail + 1)); fi
if [ "$py_rc" -ne 0 ] && [ "$p_fail" -eq 0 ]; then total_fail=$((total_fail + 1)); fi
echo "total: $((c_pass + p_pass + b_pass + a_pass)) passed, $total_fail failed"
[ "$cargo_rc" -eq 0 ] && [ "$py_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$audit_rc" -eq 0 ]
