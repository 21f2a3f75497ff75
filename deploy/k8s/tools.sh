#!/usr/bin/env bash
# Installs what deploy/k8s/check.sh needs, through the Go module proxy only, into $MURRON_TOOLS/k8s:
#   kustomize and kubeconform (go install), the docker compose CLI plugin (built from its module),
#   and kubeconform's JSON schemas, written by schemas.py from Kubernetes' OpenAPI document in the
#   k8s.io/kubernetes module, KEDA's ScaledObject CRD in the kedacore/keda module and the Prometheus
#   Operator's PodMonitor and PrometheusRule CRDs in its module.
# Nothing is fetched at check time. Prints the tools folder on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../local/common.sh"
SERVICE=k8s-tools

KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.8.2}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-v0.8.0}
COMPOSE_VERSION=${COMPOSE_VERSION:-v5.6.0}
# The Kubernetes API the manifests are validated against, and the KEDA release for ScaledObject.
KUBERNETES_VERSION=${KUBERNETES_VERSION:-v1.34.4}
KEDA_VERSION=${KEDA_VERSION:-v2.21.0}
PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}

DIR=$MURRON_TOOLS/k8s
BIN=$DIR/bin
PY=${PYTHON:-$MURRON_ROOT/.local/venv/bin/python}
mkdir -p "$BIN"
command -v go >/dev/null || die "go not found: the tools are installed with the Go module proxy"

# module_dir MODULE@VERSION: downloads a module through the proxy and prints its folder.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# Each tool is built in a folder named for its version, so a version bump rebuilds it.
install_tool() {
  local name=$1 version=$2 package=$3
  if [ ! -x "$DIR/$name-$version" ]; then
    log "building $name $version"
    (cd "$DIR" && GOBIN="$DIR/.gobin" go install "$package@$version") >&2
    mv "$DIR/.gobin/$name" "$DIR/$name-$version"
  fi
  ln -sf "$DIR/$name-$version" "$BIN/$name"
}
install_tool kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5
install_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform

# docker compose: its go.mod has replace directives, so it builds only as the main module.
if [ ! -x "$DIR/docker-compose-$COMPOSE_VERSION" ]; then
  log "building docker compose $COMPOSE_VERSION (a few minutes, once)"
  src=$(module_dir "github.com/docker/compose/v5@$COMPOSE_VERSION")
  (cd "$src" && go build -trimpath -o "$DIR/docker-compose-$COMPOSE_VERSION" ./cmd) >&2
fi
mkdir -p "$DIR/docker/cli-plugins"
ln -sf "$DIR/docker-compose-$COMPOSE_VERSION" "$DIR/docker/cli-plugins/docker-compose"
ln -sf "$DIR/docker-compose-$COMPOSE_VERSION" "$BIN/docker-compose"

# Named for its inputs, the converter included, so a change to any of them writes new schemas.
SCHEMAS=$DIR/schemas-$KUBERNETES_VERSION-keda-$KEDA_VERSION-po-$PROMETHEUS_OPERATOR_VERSION-$(sha256sum "$MURRON_ROOT/deploy/k8s/schemas.py" | cut -c1-12)
if [ ! -f "$SCHEMAS/.complete" ]; then
  log "writing JSON schemas for Kubernetes $KUBERNETES_VERSION, KEDA $KEDA_VERSION and the Prometheus Operator $PROMETHEUS_OPERATOR_VERSION"
  [ -x "$PY" ] || die "$PY not found: \`make venv\` creates it"
  k8s=$(module_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")
  keda=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
  po=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  rm -rf "$SCHEMAS"
  "$PY" "$MURRON_ROOT/deploy/k8s/schemas.py" "$SCHEMAS" \
    --openapi "$k8s/api/openapi-spec/swagger.json" \
    --crd "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" \
    --crd "$po/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml" \
    --crd "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
  touch "$SCHEMAS/.complete"
fi
ln -sfn "$SCHEMAS" "$DIR/schemas"
echo "$DIR"
