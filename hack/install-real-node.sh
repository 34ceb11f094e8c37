#!/usr/bin/env bash
# Installs what a `real` node (kubelet + its own containerd + runc + CNI) needs, skipping
# what is there: Debian packages, kubelet built from the pinned module graph, the node images.
# Real nodes need root. Where this machine cannot have them (not root, no apt-get, a package
# that will not install), prints ONE line saying why and how to get them, and exits 0:
# kwok-only clusters keep working (CENTAURUS_REAL_NODES=off asks for that on purpose). `--check` only checks root and the packages, installing nothing.
# The last line of stdout is "real nodes: ready" or "real nodes: unavailable: <why>".
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check_only=false
[[ "${1:-}" == --check ]] && check_only=true

unavailable() { echo "real nodes: unavailable: $*"; exit 0; }
[[ "${CENTAURUS_REAL_NODES:-}" == off ]] && unavailable "turned off by CENTAURUS_REAL_NODES=off (unset it to use them)"

# command → Debian package that provides it
declare -A pkgs=(
  [containerd]=containerd [ctr]=containerd [runc]=runc [/usr/lib/cni/bridge]=containernetworking-plugins
  [busybox]=busybox-static [iptables]=iptables [unshare]=util-linux [nsenter]=util-linux [ip]=iproute2
  # the operator image (run as pods on the real node) is built by a dockerd of our own
  [dockerd]=docker.io
)
missing=()
for c in "${!pkgs[@]}"; do
  if [[ "$c" == /* ]]; then [[ -x "$c" ]] || missing+=("${pkgs[$c]}"); else command -v "$c" >/dev/null || missing+=("${pkgs[$c]}"); fi
done
# busybox must be the static one: it is copied into the test image as is.
if command -v busybox >/dev/null && ! { ldd "$(command -v busybox)" 2>&1 || true; } | grep -q "not a dynamic"; then
  missing+=(busybox-static)
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

if [[ $(id -u) -ne 0 ]]; then
  unavailable "they need root (kubelet, containerd and runc manage cgroups, mounts and network namespaces); run as root, e.g. sudo npm test"
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  $check_only && unavailable "missing Debian packages ${missing[*]}: apt-get install ${missing[*]} (or run npm test, which installs them)"
  command -v apt-get >/dev/null || unavailable "missing packages ${missing[*]} and no apt-get to install them: install them with your package manager"
  echo "==> installing ${missing[*]} (Debian packages for real nodes)" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1; then
    unavailable "apt-get install ${missing[*]} failed: run it by hand to see why"
  fi
fi
# Debian's containerd package ships a systemd unit; the real nodes run their own containerd
# each, never the system one, so nothing more is needed from it.

# kubelet and the node images are also built on demand by `centaurus cluster up --nodes real=1`;
# --check leaves them to it.
if ! $check_only; then
  echo "==> kubelet (built once from the pinned module graph, about 4 min)" >&2
  bash "$HACK_DIR/build-binaries.sh" kubelet >/dev/null || unavailable "building kubelet failed: run hack/build-binaries.sh kubelet to see why"
  echo "==> node images (pause, busybox; packed by hand, cached by content)" >&2
  bash "$HACK_DIR/build-node-images.sh" >/dev/null || unavailable "packing the node images failed: run hack/build-node-images.sh to see why"
fi

# cgroup v1 hierarchies or v2: kubelet's cgroupfs driver needs one of them mounted.
[[ -d /sys/fs/cgroup ]] || unavailable "no /sys/fs/cgroup on this machine"
echo "real nodes: ready"
