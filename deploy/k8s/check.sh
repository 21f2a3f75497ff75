#!/usr/bin/env bash
# Renders every overlay under deploy/k8s/overlays with kustomize and validates each object against the
# Kubernetes and KEDA API schemas with kubeconform (strict: an unknown field is an error), checks that
# its NetworkPolicies select real pods and ports (policies.py), then checks deploy/compose.yaml with
# `docker compose config`. No network: tools.sh installs everything first.
#
#   bash deploy/k8s/check.sh [K8S_DIR]     (default: this folder)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K8S=$(cd "${1:-$HERE}" && pwd)
TOOLS=$(bash "$HERE/tools.sh")
PY=${PYTHON:-$HERE/../../.local/venv/bin/python}
BIN=$TOOLS/bin
failed=0

for overlay in "$K8S"/overlays/*/; do
  name=$(basename "$overlay")
  # `site` leaves the autoscaler open; it is validated through the overlays that build on it.
  [ "$name" = site ] && continue
  if ! rendered=$("$BIN/kustomize" build "$overlay"); then
    echo "FAIL overlays/$name: kustomize build failed"
    failed=1
    continue
  fi
  if out=$("$BIN/kubeconform" -strict -summary -schema-location "$TOOLS/schemas/{{.ResourceKind}}{{.KindSuffix}}.json" - <<<"$rendered"); then
    echo "ok   overlays/$name: ${out##*Summary: }"
  else
    echo "FAIL overlays/$name:"
    echo "$out" | sed 's/^/     /'
    failed=1
  fi
  if out=$("$PY" "$HERE/policies.py" <<<"$rendered"); then
    echo "ok   overlays/$name (network policies): $out"
  else
    echo "FAIL overlays/$name (network policies):"
    echo "$out" | sed 's/^/     /'
    failed=1
  fi
done

compose=$HERE/../compose.yaml
if command -v docker >/dev/null; then
  compose_cmd=(env DOCKER_CONFIG="$TOOLS/docker" docker compose)
else
  compose_cmd=("$BIN/docker-compose")
fi
if out=$("${compose_cmd[@]}" -f "$compose" --profile demo config -q 2>&1); then
  echo "ok   deploy/compose.yaml: docker compose config"
else
  echo "FAIL deploy/compose.yaml: $out"
  failed=1
fi
exit "$failed"
