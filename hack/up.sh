#!/usr/bin/env bash
# `npm start`: the operator on the embedded local control plane (or on $KUBECONFIG's cluster
# when that one answers). Installs what is missing, starts the cluster, installs the CRDs and
# runs the manager in the foreground; Ctrl-C stops the manager, the cluster keeps running
# (stop it with: npx centaurus cluster down).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stamp=node_modules/.centaurus-lock
if [[ ! -d node_modules || ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  echo "==> installing npm packages"
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

BIN="$(bash hack/build-binaries.sh)"
if [[ -n "${KUBECONFIG:-}" ]] && "$BIN/kubectl" --request-timeout=5s get --raw=/readyz >/dev/null 2>&1; then
  echo "==> using the cluster KUBECONFIG points at: $("$BIN/kubectl" config current-context)"
else
  echo "==> starting the local control plane (cluster \"root\")"
  npx tsx bin/centaurus.ts cluster up --name root --nodes "${CENTAURUS_NODES:-plain=3,gpu=2,edge=1}"
  export KUBECONFIG="${CENTAURUS_HOME:-$HOME/.centaurus/clusters}/root/kubeconfig"
fi
echo "==> running the operator (metrics on :8080/metrics, probes on :8081); Ctrl-C to stop"
exec npx tsx bin/centaurus.ts manager --install-crds --leader-elect "$@"
