#!/usr/bin/env bash
# Registry benchmarks (issue 3 targets): GET /schemas/ids/{id} throughput and p99, and registrations
# per second with a BACKWARD_TRANSITIVE check against a subject with 100 versions, and p99; then the
# same lookups and registrations (BACKWARD, Confluent's default; the JSON subject LENIENT) for a JSON
# Schema and a Protobuf subject (issue 23; TYPES="JSON PROTOBUF" by default, TYPES= skips them).
# Load comes from wrk on the same machine, so load generator and registry share its cores.
# Usage: benches/registry/run.sh [seconds]   (SUBJECTS=16 VERSIONS=100 by default; starts the local stack)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
SECS=${1:-10}
VERSIONS=${VERSIONS:-100}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bench_build -p schema-registry
bench_database
bench_registry
URL=$BENCH_REGISTRY

SUBJECTS=${SUBJECTS:-16}
echo "preloading $VERSIONS versions of bench.transitive and of bench.many.0..$((SUBJECTS - 1)) (BACKWARD_TRANSITIVE)..." >&2
# Version n has n fields, all but the first with a default; prints the 100th version's field list.
fields=$(python3 - "$URL" "$SUBJECTS" "$VERSIONS" <<'PY'
import json, sys, urllib.request
url, n, versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def call(method, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    urllib.request.urlopen(req).read()
fields = [{"name": "id", "type": "long"}] + [{"name": f"f{i}", "type": "string", "default": ""} for i in range(1, 100)]
for subject in ["bench.transitive"] + [f"bench.many.{k}" for k in range(n)]:
    call("PUT", f"/config/{subject}", {"compatibility": "BACKWARD_TRANSITIVE"})
    for v in range(1, versions + 1):
        schema = {"type": "record", "name": "Bench", "fields": fields[:v]}
        call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(schema)})
print(",".join(json.dumps(f, separators=(",", ":")) for f in fields))
PY
)
versions_before=$(curl -fsS "$URL/subjects/bench.transitive/versions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
id=$(curl -fsS "$URL/subjects/bench.transitive/versions/1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

run_wrk() { wrk --latency "$@" 2>&1; }
echo "GET /schemas/ids/$id for ${SECS}s..." >&2
lookup=$(run_wrk -t2 -c64 -d"${SECS}s" "$URL/schemas/ids/$id")
echo "registrations for ${SECS}s..." >&2
register=$(run_wrk -t2 -c16 -d"${SECS}s" -s benches/registry/register.lua "$URL" -- "$fields" bench.transitive 0)
versions_after=$(curl -fsS "$URL/subjects/bench.transitive/versions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "registrations across $SUBJECTS subjects for ${SECS}s..." >&2
many=$(run_wrk -t2 -c16 -d"${SECS}s" -s benches/registry/register.lua "$URL" -- "$fields" bench.many "$SUBJECTS")
many_after=$(curl -fsS "$URL/subjects/bench.many.0/versions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
# Versions created in all the bench.many subjects, to set against the requests wrk counted.
many_created=$(python3 - "$URL" "$SUBJECTS" "$VERSIONS" <<'PY'
import json, sys, urllib.request
url, n, versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
total = 0
for k in range(n):
    with urllib.request.urlopen(f"{url}/subjects/bench.many.{k}/versions") as r:
        total += len(json.load(r)) - versions
print(total)
PY
)

# JSON Schema and Protobuf: one subject each, preloaded with $VERSIONS versions by the same script the
# load uses, then lookups of its first schema and registrations to it.
TYPES=${TYPES-JSON PROTOBUF}
declare -A typed_lookup typed_register typed_before typed_after
for kind in $TYPES; do
  subject="bench.$(tr 'A-Z' 'a-z' <<<"$kind")"
  echo "preloading $VERSIONS versions of $subject ($kind, BACKWARD)..." >&2
  python3 - "$URL" "$kind" "$subject" "$VERSIONS" <<'PY'
import json, sys, urllib.request
url, kind, subject, versions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def call(method, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    urllib.request.urlopen(req).read()
# An optional property added to an open content model is compatible under LENIENT only (STRICT
# says old data may hold that property with another type), so the JSON subject is LENIENT.
if kind == "JSON":
    call("PUT", f"/config/{subject}", {"compatibilityPolicy": "LENIENT"})
for v in range(1, versions + 1):
    if kind == "JSON":
        props = {"id": {"type": "integer"}, **{f"f{i}": {"type": "string"} for i in range(1, v)}}
        schema = json.dumps({"type": "object", "properties": props})
    else:
        fields = " ".join(f"string f{i} = {i + 1};" for i in range(1, v))
        schema = f'syntax = "proto3"; package bench; message Bench {{ int64 id = 1; {fields} }}'
    call("POST", f"/subjects/{subject}/versions", {"schemaType": kind, "schema": schema})
PY
  typed_before[$kind]=$(curl -fsS "$URL/subjects/$subject/versions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  typed_id=$(curl -fsS "$URL/subjects/$subject/versions/1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  echo "GET /schemas/ids/$typed_id ($kind) for ${SECS}s..." >&2
  typed_lookup[$kind]=$(run_wrk -t2 -c64 -d"${SECS}s" "$URL/schemas/ids/$typed_id")
  echo "$kind registrations for ${SECS}s..." >&2
  typed_register[$kind]=$(run_wrk -t2 -c16 -d"${SECS}s" -s benches/registry/register_typed.lua "$URL" -- "$kind" "$subject")
  typed_after[$kind]=$(curl -fsS "$URL/subjects/$subject/versions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
done

field() { awk -v k="$2" '$1 == k { print $2 }' <<<"$1"; }
rps() { awk '/^Requests\/sec/ { print $2 }' <<<"$1"; }
errors() { awk '/Non-2xx/ { print $NF } END { }' <<<"$1"; }
requests() { awk '/requests in/ { print $1 }' <<<"$1"; }
echo
echo "== registry: $(machine); wrk and registry on one machine, ${SECS}s each"
# "new": versions created against requests made; a registration that was not new would show here.
printf '%-58s %12s %10s %10s %10s %16s\n' "benchmark" "req/s" "p50" "p99" "non-2xx" "new/requests"
printf '%-58s %12s %10s %10s %10s %16s\n' "GET /schemas/ids/{id} (2 threads, 64 connections)" "$(rps "$lookup")" "$(field "$lookup" 50%)" "$(field "$lookup" 99%)" "$(errors "$lookup")" "-"
printf '%-58s %12s %10s %10s %10s %16s\n' "register, BACKWARD_TRANSITIVE, $versions_before -> $versions_after versions" "$(rps "$register")" "$(field "$register" 50%)" "$(field "$register" 99%)" "$(errors "$register")" "$((versions_after - versions_before))/$(requests "$register")"
printf '%-58s %12s %10s %10s %10s %16s\n' "register, same, $SUBJECTS subjects, each $VERSIONS -> ~$many_after versions" "$(rps "$many")" "$(field "$many" 50%)" "$(field "$many" 99%)" "$(errors "$many")" "$many_created/$(requests "$many")"
for kind in $TYPES; do
  l=${typed_lookup[$kind]} r=${typed_register[$kind]}
  printf '%-58s %12s %10s %10s %10s %16s\n' "GET /schemas/ids/{id}, $kind" "$(rps "$l")" "$(field "$l" 50%)" "$(field "$l" 99%)" "$(errors "$l")" "-"
  printf '%-58s %12s %10s %10s %10s %16s\n' "register $kind, BACKWARD, ${typed_before[$kind]} -> ${typed_after[$kind]} versions" "$(rps "$r")" "$(field "$r" 50%)" "$(field "$r" 99%)" "$(errors "$r")" "$((typed_after[$kind] - typed_before[$kind]))/$(requests "$r")"
done
