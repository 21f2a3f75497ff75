#!/usr/bin/env bash
# The full fault suite (RELIABILITY.md): every fault scenario at full size, one after another, run
# `--runs N` times (default 1), ending with the table of RELIABILITY.md summed over the runs.
# `make test` runs the same scenarios reduced; this is `make faults`.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

runs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    -h|--help) echo "usage: $0 [--runs N]"; exit 0 ;;
    *) echo "unknown argument: $1 (usage: $0 [--runs N])" >&2; exit 2 ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "--runs must be a positive number" >&2; exit 2 ;; esac

eval "$(bash deploy/local/stack.sh env)"
export MURRON_FAULT_SUITE=full SINK_LOG=${SINK_LOG:-error}
# The whole output, for the details of a failure.
LOG=$ROOT/.local/faults.log
mkdir -p "$(dirname "$LOG")" && : >"$LOG"

# One scenario at a time: they share two cores, and the timing of faults matters.
failed=0
for run in $(seq 1 "$runs"); do
  echo "== fault suite run $run of $runs" >&2
  cargo test --no-fail-fast -p murron-e2e --test sink_crash --test faults_s3 --test faults_disk \
    --test faults_services --test faults_ingest --test routed_topic -- --nocapture --test-threads=1 2>&1 | tee -a "$LOG" \
    | grep --line-buffered -E -A2 '^(RELIABILITY|test |thread .* panicked)' >&2
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
  # The Python producer's spool, SIGKILLed mid-stream (its RELIABILITY line is printed uncaptured).
  .local/venv/bin/python -m pytest tests/interop/test_producer_python_spool.py --rootdir . -q -s \
    -p no:cacheprovider 2>&1 | tee -a "$LOG" | grep --line-buffered -E '^(RELIABILITY|FAILED)' >&2
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
done

echo
echo "| scenario | runs | events | lost | duplicated | notes |"
echo "|---|---|---|---|---|---|"
# Rows are `RELIABILITY | scenario | runs | events | lost | duplicated | notes`; sum them by scenario,
# keeping the last run's notes.
grep '^RELIABILITY |' "$LOG" | awk -F' [|] ' '
  { key = $2; if (!(key in runs)) order[n++] = key
    runs[key] += $3; events[key] += $4; lost[key] += $5; dup[key] += $6; notes[key] = $7 }
  END { for (i = 0; i < n; i++) { k = order[i]
    printf "| %s | %d | %d | %d | %d | %s |\n", k, runs[k], events[k], lost[k], dup[k], notes[k] } }'
[ "$failed" -eq 0 ] || echo "some scenarios failed: the panics are above, the whole output in $LOG" >&2
exit "$failed"
