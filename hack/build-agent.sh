#!/usr/bin/env bash
# Builds the node agent and the CNI plugin (agent/, Go) into a cache folder keyed by the
# content hash of agent/, so an unchanged tree is never rebuilt. The eBPF objects are
# generated and committed (agent/internal/dataplane/bpf_bpfel.*): no clang is needed here.
# Prints the folder holding centaurus-agent and centaurus-cni on stdout, progress on stderr.
#
#   hack/build-agent.sh          build when missing
#   hack/build-agent.sh --dir    print the folder only (whether or not it is built)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CENTAURUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/centaurus}"
hash="$(cd "$ROOT" && find agent -type f -not -path '*/.*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
BIN="$CACHE/agent/$hash"
if [[ "${1:-}" == "--dir" ]]; then
  echo "$BIN"
  exit 0
fi
if [[ -x "$BIN/centaurus-agent" && -x "$BIN/centaurus-cni" ]]; then
  touch "$BIN" # in use: pruning below keeps recently used builds
  echo "agent and CNI plugin already built ($hash)" >&2
  echo "$BIN"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "error: Go (1.26 or newer) is needed to build the node agent and the CNI plugin (agent/)." >&2
  exit 1
fi
mkdir -p "$CACHE/agent"
exec 9>"$CACHE/agent/.build.lock"
flock 9
if [[ ! -x "$BIN/centaurus-agent" || ! -x "$BIN/centaurus-cni" ]]; then
  echo "building centaurus-agent and centaurus-cni ($hash) from agent/" >&2
  started=$SECONDS
  tmp="$BIN.tmp.$$"
  mkdir -p "$tmp"
  (
    cd "$ROOT/agent"
    export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
    go build -ldflags "-s -w" -o "$tmp/" ./cmd/centaurus-agent ./cmd/centaurus-cni
    go test ./internal/program/ # the pure NodeProgram → map entries translation
  ) >&2
  rm -rf "$BIN"
  mv "$tmp" "$BIN"
  echo "built in $((SECONDS - started)) s" >&2
  # Prune builds unused for a week, always keeping the three newest (other checkouts, and a
  # test run of another one at this very moment, may be on other hashes).
  find "$CACHE/agent" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- |
    while read -r old; do
      if [[ -n "$(find "$old" -maxdepth 0 -mtime +7)" ]]; then rm -rf "$old"; fi
    done
fi
echo "$BIN"
