#!/usr/bin/env bash
# `npm start`: the operator on the embedded local control plane (or on $KUBECONFIG's cluster
# when that one answers). Installs what is missing, then runs `centaurus demo`: starts the
# local clusters, installs the CRDs, runs the operator, applies the samples and prints what
# happened; Ctrl-C stops the operator, the clusters keep running
# (stop them with: npx centaurus cluster down --name root; ... --name edge-1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stamp=node_modules/.centaurus-lock
if [[ ! -d node_modules || ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  echo "==> installing npm packages"
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

echo "==> compiling the CLI and operator to dist/ (so commands start at once)"
npm run build --silent

BIN="$(bash hack/build-binaries.sh)"
if [[ -n "${KUBECONFIG:-}" ]] && "$BIN/kubectl" --request-timeout=5s get --raw=/readyz >/dev/null 2>&1; then
  echo "==> using the cluster KUBECONFIG points at: $("$BIN/kubectl" config current-context)"
  echo "==> running the operator (metrics on :8080/metrics, probes on :8081); Ctrl-C to stop"
  exec node bin/centaurus.mjs manager --install-crds --leader-elect "$@"
fi
# The embedded default: local clusters root and edge-1, the operator in both, the samples.
echo "==> real nodes (Debian's containerd, runc and CNI plugins; kubelet; the node images)"
bash hack/install-real-node.sh | tail -1
exec node bin/centaurus.mjs demo --nodes "${CENTAURUS_NODES:-plain=3,gpu=2,edge=1}" "$@"
