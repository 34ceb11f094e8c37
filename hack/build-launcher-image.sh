#!/usr/bin/env bash
# Builds the two images a VirtualMachine's guest needs on a real node, packed by hand as OCI
# archives (no registry, no dockerd needed), cached by content in $CACHE/images:
#   centaurus.local/vm-launcher:KEY  `centaurus vm-launcher` (images/launcher/main.ts bundled
#       by esbuild into one file, run by this machine's Node.js), qemu-system-x86_64 from
#       Debian's qemu-system-x86 with the libraries ldd names and its firmware
#       (/usr/share/qemu, /usr/share/seabios) and TCG module, and a static busybox (readiness probe and the
#       container disk's copier). User nonroot 65532.
#   centaurus.local/guest-disk:KEY   a container disk: the test guest (images/guest/build.sh)
#       as /disk/vmlinuz and /disk/initrd.gz, FROM scratch, as KubeVirt's containerDisks are.
# With --load CLUSTER both are imported into that local cluster's real node. The last line
# printed is "LAUNCHER_IMAGE DISK_IMAGE".
#
#   hack/build-launcher-image.sh [--load CLUSTER]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CENTAURUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/centaurus}"
OUT="$CACHE/images"
mkdir -p "$OUT"
load=""
[[ "${1:-}" == --load ]] && load="${2:?--load needs a cluster name}"
step() { echo "==> $*" >&2; }
# shellcheck source=lib/oci-pack.sh
source "$ROOT/hack/lib/oci-pack.sh"

for tool in qemu-system-x86_64 node; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install qemu-system-x86)" >&2; exit 1; }
done
bb=/bin/busybox
{ ldd "$bb" 2>&1 || true; } | grep -q "not a dynamic" || { echo "error: $bb is not Debian's static busybox: apt-get install busybox-static" >&2; exit 1; }


# copy_with_libs ROOTFS BINARY DEST: the binary at DEST and every library ldd names.
copy_with_libs() {
  local rootfs="$1" bin="$2" dest="$3" lib
  mkdir -p "$rootfs$(dirname "$dest")"
  cp -L "$bin" "$rootfs$dest"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

exec 8>"$CACHE/.launcher-image.lock"
flock 8

# --- the launcher ---------------------------------------------------------------------------
bundle="$(mktemp -d)"
trap 'rm -rf "$bundle"' EXIT
(cd "$ROOT" && node_modules/.bin/esbuild images/launcher/main.ts --bundle --platform=node --format=esm \
  --target=node20 --log-level=warning --outfile="$bundle/launcher.mjs")
node_bin="$(readlink -f "$(command -v node)")"
qemu_bin="$(readlink -f "$(command -v qemu-system-x86_64)")"
key="$( { sha "$bundle/launcher.mjs"; sha "$0"; sha "$node_bin"; sha "$qemu_bin"; sha "$bb";
  dpkg-query -W qemu-system-x86 qemu-system-data seabios 2>/dev/null || true; } | sha256sum | cut -c1-12)"
LAUNCHER="centaurus.local/vm-launcher:$key"
LAUNCHER_TAR="$OUT/vm-launcher-$key.tar"
if [[ ! -s "$LAUNCHER_TAR" ]]; then
  step "packing $LAUNCHER (Node.js $(node --version), $(qemu-system-x86_64 --version | head -1))"
  root="$bundle/rootfs"
  mkdir -p "$root"/{app,bin,etc,tmp,home/nonroot,usr/share,run/centaurus-launcher}
  chmod 1777 "$root/tmp" "$root/run/centaurus-launcher"
  cp "$bundle/launcher.mjs" "$root/app/launcher.mjs"
  copy_with_libs "$root" "$node_bin" /usr/bin/node
  copy_with_libs "$root" "$qemu_bin" /usr/bin/qemu-system-x86_64
  # TCG is a loadable module in Debian's build; the block and display modules are not used.
  mods=/usr/lib/x86_64-linux-gnu/qemu
  mkdir -p "$root$mods"
  for m in "$mods"/accel-tcg-*.so; do copy_with_libs "$root" "$m" "$m"; done
  cp -a /usr/share/qemu /usr/share/seabios "$root/usr/share/"
  cp "$bb" "$root/bin/busybox"
  for a in sh cp test cat ls; do ln -sf busybox "$root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  pack_oci "$LAUNCHER" "$root" '["/usr/bin/node","/app/launcher.mjs"]' 65532 /usr/bin:/bin "$LAUNCHER_TAR"
fi

# --- the test guest's container disk ----------------------------------------------------------
guest="$(bash "$ROOT/images/guest/build.sh")"
dkey="$(basename "$guest")"
DISK="centaurus.local/guest-disk:${dkey:0:12}"
DISK_TAR="$OUT/guest-disk-${dkey:0:12}.tar"
if [[ ! -s "$DISK_TAR" ]]; then
  step "packing $DISK (the test guest from $guest)"
  droot="$bundle/disk"
  mkdir -p "$droot/disk"
  cp "$guest/vmlinuz" "$guest/initrd.gz" "$droot/disk/"
  chmod 0644 "$droot/disk/"*
  pack_oci "$DISK" "$droot" '["/no-entrypoint"]' "" /usr/bin:/bin "$DISK_TAR"
fi

if [[ -n "$load" ]]; then
  sock="${CENTAURUS_HOME:-$HOME/.centaurus/clusters}/$load/real/containerd.sock"
  [[ -S "$sock" ]] || { echo "error: cluster $load has no real node (start it with --nodes real=1)" >&2; exit 1; }
  step "importing $LAUNCHER and $DISK into the real node of $load"
  ctr --address "$sock" -n k8s.io image import "$LAUNCHER_TAR" >/dev/null
  ctr --address "$sock" -n k8s.io image import "$DISK_TAR" >/dev/null
fi
echo "$LAUNCHER $DISK"
