#!/usr/bin/env bash
# Adds an event type to the installation and prints its manifests, rendered through an overlay:
# writes event-types/NAME/kustomization.yaml (the one file an event type is), lists it in
# event-types/kustomization.yaml, and prints that event type's objects from `kustomize build`.
#
#   bash deploy/k8s/event-type.sh TYPE --topic TOPIC [--name NAME] [--overlay OVERLAY] [--dir K8S_DIR]
#
#   TYPE     the event type (registry subject), for example billing.member_active
#   TOPIC    the Kafka topic its events arrive on; repeat --topic for several
#   NAME     names the pipeline, its consumer group and its objects; default: TYPE with . and _ as -
#   OVERLAY  the overlay to render through (default: production)
#
# Apply the printed objects with `kubectl apply -f -`, or the whole overlay with `kubectl apply -k`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "event-type.sh: $*" >&2; exit 2; }

type="" name="" overlay=production k8s=$HERE topics=()
while [ $# -gt 0 ]; do
  case $1 in
    --topic) [ $# -ge 2 ] || usage; topics+=("$2"); shift 2 ;;
    --name) [ $# -ge 2 ] || usage; name=$2; shift 2 ;;
    --overlay) [ $# -ge 2 ] || usage; overlay=$2; shift 2 ;;
    --dir) [ $# -ge 2 ] || usage; k8s=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) usage ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$type" ] || die "one event type at a time (got $type and $1)"; type=$1; shift ;;
  esac
done
[ -n "$type" ] || usage
[ ${#topics[@]} -gt 0 ] || die "--topic is required: the Kafka topic $type arrives on"
[[ $type =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$ ]] \
  || die "$type is not an event type name (dotted Avro names, such as billing.member_active)"
for t in "${topics[@]}"; do
  [[ $t =~ ^[A-Za-z0-9._-]{1,249}$ ]] || die "$t is not a Kafka topic name"
done
[ -n "$name" ] || name=$(tr '._' '--' <<<"$type" | tr '[:upper:]' '[:lower:]')
# The name ends up in object names (DNS labels, with a prefix such as sink-worker-) and pipeline names.
[[ $name =~ ^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$ ]] \
  || die "$name is not a valid name: lower-case letters, digits and -, at most 40 characters"
[ -d "$k8s/overlays/$overlay" ] || die "no overlay $k8s/overlays/$overlay"
file=$k8s/event-types/$name/kustomization.yaml
[ ! -e "$file" ] || die "$file exists: event type $name is already there"
# Each event type archives its topics: two on one topic would archive it twice.
for t in "${topics[@]}"; do
  taken=$(grep -l "SINK_WORKER_ARCHIVE__TOPICS=.*\"$t\"" "$k8s"/event-types/*/kustomization.yaml 2>/dev/null | head -n 1 || true)
  [ -z "$taken" ] || die "topic $t is already archived by $(basename "$(dirname "$taken")"): give each event type its own topic"
done
PY=${PYTHON:-$HERE/../../.local/venv/bin/python}
"$PY" -c 'import yaml' 2>/dev/null || die "$PY with PyYAML is needed to print the manifests (\`make venv\` makes it)"

TOOLS=$(bash "$HERE/tools.sh")

json_list() { printf '"%s",' "$@" | sed 's/,$//; s/^/[/; s/$/]/'; }
mkdir -p "$(dirname "$file")"
cat > "$file" <<YAML
# Event type $type (written by deploy/k8s/event-type.sh).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

resources:
  - ../../event-type

nameSuffix: -$name

labels:
  - pairs:
      app.kubernetes.io/instance: $name
    includeSelectors: true

configMapGenerator:
  - name: event-type
    literals:
      - SINK_WORKER_PIPELINE__NAME=$name
      - SINK_WORKER_PIPELINE__INPUT__TOPICS=$(json_list "${topics[@]}")
      - SINK_WORKER_PIPELINE__INPUT__GROUP=murron-sink-$name
      - SINK_WORKER_PIPELINE__FILTER_TYPE=["$type"]
      - SINK_WORKER_ARCHIVE__NAME=archive-$name
      - SINK_WORKER_ARCHIVE__TOPICS=$(json_list "${topics[@]}")
YAML
(cd "$k8s/event-types" && "$TOOLS/bin/kustomize" edit add resource "$name")
echo "wrote ${file#"$k8s"/} and listed it in event-types/kustomization.yaml" >&2

"$TOOLS/bin/kustomize" build "$k8s/overlays/$overlay" | "$PY" -c '
import sys, yaml
name = sys.argv[1]
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
mine = [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == name]
if not mine:
    sys.exit(f"no objects of event type {name} in the rendered overlay")
yaml.safe_dump_all(mine, sys.stdout, sort_keys=False)
' "$name"
