#!/usr/bin/env bash
# Packs the images every real node needs, by hand, as OCI archives (no registry is reachable):
#   centaurus.local/pause:1    the pod sandbox (images/pause, a static Go binary)
#   centaurus.local/busybox:1  a small test image: Debian's busybox-static and its applets
# Archives are cached by the content of their inputs in $CACHE/images; prints that folder.
# `ctr -n k8s.io image import` reads the full name from the io.containerd.image.name annotation.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CENTAURUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/centaurus}"
OUT="$CACHE/images"
mkdir -p "$OUT"

# shellcheck source=lib/oci-pack.sh
source "$ROOT/hack/lib/oci-pack.sh"


# --- pause --------------------------------------------------------------------------------
key="$(cat "$ROOT/images/pause/main.go" "$ROOT/images/pause/go.mod" | sha256sum | cut -c1-12)"
if [[ ! -s "$OUT/pause-$key.tar" ]]; then
  echo "packing centaurus.local/pause:1 (images/pause)" >&2
  work="$(mktemp -d)"
  mkdir -p "$work/rootfs"
  (cd "$ROOT/images/pause" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -ldflags "-s -w" -o "$work/rootfs/pause" .)
  pack_oci centaurus.local/pause:1 "$work/rootfs" '["/pause"]' "" /bin "$OUT/pause-$key.tar"
  rm -rf "$work"
fi
ln -sfn "pause-$key.tar" "$OUT/pause.tar"

# --- busybox --------------------------------------------------------------------------------
bb=/bin/busybox
if ! "$bb" --list >/dev/null 2>&1 || ! { ldd "$bb" 2>&1 || true; } | grep -q "not a dynamic"; then
  echo "error: $bb is not Debian's static busybox: apt-get install busybox-static" >&2
  exit 1
fi
key="$(sha "$bb" | cut -c1-12)"
if [[ ! -s "$OUT/busybox-$key.tar" ]]; then
  echo "packing centaurus.local/busybox:1 (Debian's busybox-static)" >&2
  work="$(mktemp -d)"
  mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
  chmod 1777 "$work/rootfs/tmp"
  cp "$bb" "$work/rootfs/bin/busybox"
  for applet in $("$bb" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$work/rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$work/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/rootfs/etc/group"
  pack_oci centaurus.local/busybox:1 "$work/rootfs" '["/bin/sh"]' "" /bin "$OUT/busybox-$key.tar"
  rm -rf "$work"
fi
ln -sfn "busybox-$key.tar" "$OUT/busybox.tar"
echo "$OUT"
