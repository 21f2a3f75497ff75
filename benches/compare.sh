#!/usr/bin/env bash
# Before and after, in one run: this checkout against another revision BASE, on the same machine, the
# same topic and the same stack, so that a refactoring's cost (or a change's gain) is a paired ratio
# rather than two figures from two days.
#
# 1. Builds BASE (release) in a git worktree under .local/compare/, with its own target folder.
# 2. The stage micro-benchmarks (sink-worker/benches/stages.rs) of BASE and of this checkout,
#    alternately, ROUNDS times each; prints each benchmark's median throughput and the ratio.
# 3. The sink benchmark (benches/sink/run.sh) with one worker of this build and one of BASE in every
#    round, on one preloaded topic (BASELINE_BIN); prints its table with the paired ratio.
#
# Usage: benches/compare.sh BASE   (ROUNDS=3; the sink benchmark's variables, RUNS=3 EVENTS=2000000 by
# default, PEER= and SCALING_STREAMS= unless set)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BASE=${1:?usage: benches/compare.sh BASE (a commit, branch or tag)}
ROUNDS=${ROUNDS:-3}
log() { printf '\033[1m[compare]\033[0m %s\n' "$*" >&2; }

base_rev=$(git rev-parse --verify "$BASE^{commit}")
tree=$ROOT/.local/compare/$base_rev
if [ ! -d "$tree" ]; then
  mkdir -p "$(dirname "$tree")"
  git worktree add --detach "$tree" "$base_rev" >/dev/null
fi
log "building $BASE ($base_rev) and this checkout, release"
(cd "$tree" && cargo build --release -q -p sink-worker --bins && cargo bench -q -p sink-worker --bench stages --no-run)
cargo build --release -q -p sink-worker -p schema-registry --bins --example consume_ceiling
cargo bench -q -p sink-worker --bench stages --no-run

# The criterion executable of a tree: the newest stages-* binary in its release deps folder.
stages_bin() { ls -t "$1"/target/release/deps/stages-* | grep -v '\.d$' | head -n 1; }
base_stages=$(stages_bin "$tree") this_stages=$(stages_bin "$ROOT")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for side in base this; do
    bin=$base_stages; [ "$side" = this ] && bin=$this_stages
    log "stages, round $round, $side"
    # Run from the sink-worker folder, as cargo bench does (the benchmark reads example schemas).
    (cd "$ROOT/sink-worker" && "$bin" --bench --warm-up-time 1 --measurement-time 3 --noplot) >"$out/$side-$round.txt" 2>&1
  done
done
echo
echo "== stage micro-benchmarks: $BASE against this checkout, $ROUNDS rounds each, alternating; $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
python3 - "$out" "$ROUNDS" <<'PY'
import re, statistics, sys
from pathlib import Path
folder, rounds = Path(sys.argv[1]), int(sys.argv[2])
unit = {"elem/s": 1, "Kelem/s": 1e3, "Melem/s": 1e6, "Gelem/s": 1e9}
def rates(text):
    found, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+/[a-z0-9_]+)", line)
        if m:
            name = m.group(1)
        m = re.search(r"thrpt:\s+\[\S+ \S+ (\S+) (\S+)", line)
        if m and name:
            found[name] = float(m.group(1)) * unit[m.group(2)]
            name = None
    return found
runs = {side: [rates((folder / f"{side}-{r}.txt").read_text()) for r in range(1, rounds + 1)] for side in ("base", "this")}
print(f"{'benchmark':42} {'base events/s':>14} {'this events/s':>14} {'this/base, paired':>26}")
for name in runs["base"][0]:
    if not all(name in r for side in runs.values() for r in side):
        continue
    b = [r[name] for r in runs["base"]]
    t = [r[name] for r in runs["this"]]
    ratios = sorted(x / y for x, y in zip(t, b))
    print(f"{name:42} {statistics.median(b):>14,.0f} {statistics.median(t):>14,.0f} "
          f"{statistics.median(ratios):>10.3f} ({ratios[0]:.3f}-{ratios[-1]:.3f})")
PY

log "sink benchmark: this build and $BASE, one worker each, every round"
PEER=${PEER-} SCALING_STREAMS=${SCALING_STREAMS-} WORKERS=${WORKERS:-1} BASELINE_BIN=$tree/target/release \
  bash benches/sink/run.sh
