#!/usr/bin/env bash
# For users with Docker: a kind cluster with the operator image loaded and the chart installed.
#   hack/kind-up.sh [cluster-name]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NAME="${1:-centaurus}"
IMAGE="centaurus:dev"

for tool in docker kind helm kubectl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (kind-up needs docker, kind, helm and kubectl)" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "error: no Docker engine answers; start Docker, or use 'npm start' for the embedded local control plane" >&2; exit 1; }

kind get clusters | grep -qx "$NAME" || kind create cluster --name "$NAME"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$NAME"
helm upgrade --install centaurus manifests/charts/centaurus \
  --namespace centaurus-system --create-namespace \
  --set image.repository=centaurus --set image.tag=dev --set image.pullPolicy=Never
kubectl --context "kind-$NAME" -n centaurus-system rollout status deploy/centaurus --timeout=180s
echo "Centaurus runs in kind-$NAME. Try: kubectl apply -f manifests/samples/"
