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

sha() { sha256sum "$1" | cut -d' ' -f1; }

# pack NAME ROOTFS_DIR ENTRYPOINT_JSON OUT_TAR: one layer, one manifest, one index.
pack() {
  local name="$1" rootfs="$2" entry="$3" out="$4" oci
  oci="$(mktemp -d)"
  mkdir -p "$oci/blobs/sha256"
  tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$oci/layer.tar" .
  local layer diff size
  layer="$(sha "$oci/layer.tar")"; size="$(stat -c %s "$oci/layer.tar")"
  mv "$oci/layer.tar" "$oci/blobs/sha256/$layer"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Env":["PATH=/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entry" "$layer" >"$oci/config.json"
  local config csize
  config="$(sha "$oci/config.json")"; csize="$(stat -c %s "$oci/config.json")"
  mv "$oci/config.json" "$oci/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$csize" "$layer" "$size" >"$oci/manifest.json"
  local manifest msize
  manifest="$(sha "$oci/manifest.json")"; msize="$(stat -c %s "$oci/manifest.json")"
  mv "$oci/manifest.json" "$oci/blobs/sha256/$manifest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$msize" "$name" "${name##*:}" >"$oci/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
  tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$oci" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  rm -rf "$oci"
}

# --- pause --------------------------------------------------------------------------------
key="$(cat "$ROOT/images/pause/main.go" "$ROOT/images/pause/go.mod" | sha256sum | cut -c1-12)"
if [[ ! -s "$OUT/pause-$key.tar" ]]; then
  echo "packing centaurus.local/pause:1 (images/pause)" >&2
  work="$(mktemp -d)"
  mkdir -p "$work/rootfs"
  (cd "$ROOT/images/pause" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -ldflags "-s -w" -o "$work/rootfs/pause" .)
  pack centaurus.local/pause:1 "$work/rootfs" '["/pause"]' "$OUT/pause-$key.tar"
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
  pack centaurus.local/busybox:1 "$work/rootfs" '["/bin/sh"]' "$OUT/busybox-$key.tar"
  rm -rf "$work"
fi
ln -sfn "busybox-$key.tar" "$OUT/busybox.tar"
echo "$OUT"
