#!/usr/bin/env bash
# Builds the local control plane's binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, helm) from the Go module proxy into a cache folder that
# lives outside the repository, so every clone and CI run on this machine reuses it.
# What is already built for the pinned versions is skipped.
#
#   hack/build-binaries.sh            build whatever is missing
#   hack/build-binaries.sh kubelet    also build kubelet (real nodes need it; kwok-only runs do not)
#   CENTAURUS_CACHE=/path hack/...    use another cache folder
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HACK_DIR/versions.env"


CACHE="${CENTAURUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/centaurus}"
BIN="$CACHE/bin/k8s-$KUBERNETES_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
mkdir -p "$BIN"

# Optional extras named on the command line (only kubelet today), built from the same module
# graph as kube-apiserver so the whole node speaks one release.
extras=()
for a in "$@"; do
  case "$a" in
    kubelet) extras+=(kubelet) ;;
    *) echo "error: unknown extra binary \"$a\" (known: kubelet)" >&2; exit 2 ;;
  esac
done
wanted=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm kwok-stages.yaml "${extras[@]}")

step=0
total=$((8 + ${#extras[@]}))
progress() { step=$((step + 1)); printf '[%d/%d] %s\n' "$step" "$total" "$*"; }

# What is still to build; when nothing is, print the folder and stop.
find_needed() {
  need=()
  for b in "${wanted[@]}"; do
    [[ -s "$BIN/$b" ]] || need+=("$b")
  done
  if [[ ${#need[@]} -eq 0 ]]; then
    echo "$BIN"
    exit 0
  fi
}
find_needed
if ! command -v go >/dev/null 2>&1; then
  echo "error: Go is not installed or not on PATH." >&2
  echo "  The local control plane is built from source with Go (1.26 or newer)." >&2
  echo "  Install Go from your OS packages, or point KUBECONFIG at an existing cluster instead." >&2
  exit 1
fi
# One build at a time per cache (npm test, gen-manifests and a cluster up may all ask at once):
# a second caller waits for the first, then finds what it built.
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  echo "another build into $CACHE is running: waiting for it" >&2
  flock 9
fi
find_needed
echo "building ${need[*]} into $BIN (first build takes 10-20 min on 2 cores; later runs are instant)" >&2

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

# --- Kubernetes and etcd: one throw-away module -----------------------------------------
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every k8s.io/* staging
# module with a path inside its own repository. A throw-away module that requires it and
# replaces each staging module with the published k8s.io/<name> v0.<minor>.<patch> builds it.
WORK="$CACHE/gomod/k8s-$KUBERNETES_VERSION"
mkdir -p "$WORK/cmd/etcd"
STAGING_VERSION="v0.${KUBERNETES_VERSION#v1.}"
if [[ ! -f "$WORK/go.sum" ]]; then
  progress "resolving k8s.io/kubernetes@$KUBERNETES_VERSION module graph" >&2
  modfile="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    echo "module centaurus.local/k8s-binaries"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    grep -E '^\s*k8s.io/[a-z0-9-]+ => \./staging/' "$modfile" |
      awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
  } >"$WORK/go.mod"
  cat >"$WORK/cmd/etcd/main.go" <<'GO'
// etcd built from the same module graph as kube-apiserver.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  cat >"$WORK/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$WORK" && go mod tidy >&2)
else
  progress "module graph for k8s.io/kubernetes@$KUBERNETES_VERSION already resolved" >&2
fi
# kubelet joins the same module (k8s.io/kubernetes at the pinned version, the same replaces);
# a cache resolved before kubelet was wanted only lacks the sums of its extra packages.
if [[ " ${extras[*]} " == *" kubelet "* ]] && ! grep -q cmd/kubelet "$WORK/tools.go"; then
  sed -i 's|^\t_ "k8s.io/kubernetes/cmd/kubectl"$|&\n\t_ "k8s.io/kubernetes/cmd/kubelet"|' "$WORK/tools.go"
  (cd "$WORK" && go mod tidy >&2)
fi

minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build_k8s() { # name package
  if [[ -x "$BIN/$1" ]]; then progress "$1 already built"; return; fi
  progress "building $1 ($2)"
  (cd "$WORK" && go build -ldflags "$LDFLAGS" -o "$BIN/$1.tmp" "$2")
  mv "$BIN/$1.tmp" "$BIN/$1"
}
build_k8s etcd ./cmd/etcd >&2
build_k8s kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver >&2
build_k8s kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager >&2
build_k8s kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler >&2
build_k8s kubectl k8s.io/kubernetes/cmd/kubectl >&2
if [[ " ${extras[*]} " == *" kubelet "* ]]; then build_k8s kubelet k8s.io/kubernetes/cmd/kubelet >&2; fi

# --- kwok and helm: plain `go install` (their go.mod files have no replace directives) ---
go_install() { # name module/path version
  if [[ -x "$BIN/$1" ]]; then progress "$1 already built"; return; fi
  progress "building $1 ($2@$3)"
  GOBIN="$BIN/.gobin" go install -ldflags "-s -w" "$2@$3"
  mv "$BIN/.gobin/$1" "$BIN/$1"
}
go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" >&2
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" >&2

# kwok simulates nodes and pods through "stages"; the kwok module ships the standard ones.
# Use its fast node stages, Lease heartbeats (so the node lifecycle controller sees live
# nodes) and fast pod stages (pods are Running as soon as they are bound).
if [[ ! -s "$BIN/kwok-stages.yaml" ]]; then
  stages="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  [[ -d "$stages" ]] || (cd "$WORK" && go mod download "sigs.k8s.io/kwok@$KWOK_VERSION")
  for f in "$stages"/node/fast/node-initialize.yaml "$stages"/node/heartbeat-with-lease/*.yaml "$stages"/pod/fast/*.yaml; do
    cat "$f"
    echo "---"
  done >"$BIN/kwok-stages.yaml.tmp"
  mv "$BIN/kwok-stages.yaml.tmp" "$BIN/kwok-stages.yaml"
fi

echo "$BIN"
