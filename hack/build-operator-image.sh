#!/usr/bin/env bash
# Builds the operator image from the repository's Dockerfile and, with --load CLUSTER, imports
# it into that local cluster's real node. Cached by content: the image is rebuilt only when
# the Dockerfile or what it copies changes. Prints the image name on the last line.
#
#   hack/build-operator-image.sh [--load CLUSTER]
#
# No registry is reachable here, so the Dockerfile's public base images are replaced by local
# stand-ins with the same contents (Node.js 20 with npm and a shell for the build stage;
# Node.js 20 at /nodejs/bin/node, user nonroot 65532 for the runtime), packed by hand from
# this machine's Node.js and Debian's busybox-static. CENTAURUS_PUBLIC_BASES=1 uses the
# Dockerfile's defaults instead (a machine with a registry). The build runs on Debian's
# docker.io: a dockerd of our own (data in the cache, no bridge, no iptables rules), started
# for the build and stopped afterwards. NPM_CA_FILE (default: the CAs in
# /usr/local/share/ca-certificates) is handed to the build stage's npm ci, for registries
# behind a TLS-inspecting proxy; it never reaches the final image.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CENTAURUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/centaurus}"
IMAGES="$CACHE/images"
mkdir -p "$IMAGES"
load=""
[[ "${1:-}" == --load ]] && load="${2:?--load needs a cluster name}"

# --- the content key: the Dockerfile and everything it copies ----------------------------
inputs=(Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json pkg controllers cli bin hack/build-binaries.sh hack/versions.env test/fixtures)
key="$(cd "$ROOT" && find "${inputs[@]}" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
base_key="$(sha256sum "$(command -v node)" /bin/busybox | sha256sum | cut -c1-8)"
[[ "${CENTAURUS_PUBLIC_BASES:-}" == 1 ]] && base_key=public
IMAGE="centaurus.local/centaurus:$key-$base_key"
TAR="$IMAGES/operator-$key-$base_key.tar"

step() { echo "==> $*" >&2; }

# --- stand-in base images, packed by hand (docker save format) -----------------------------
# pack_rootfs DIR: busybox, node (and npm when $2 = build), and the libraries node links.
pack_rootfs() {
  local dir="$1" kind="$2" node lib
  node="$(readlink -f "$(command -v node)")"
  mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/usr/bin" "$dir/home/nonroot"
  chmod 1777 "$dir/tmp"
  for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  if [[ "$kind" == build ]]; then
    cp /bin/busybox "$dir/bin/busybox"
    for a in $(/bin/busybox --list); do [[ "$a" == busybox ]] || ln -sf busybox "$dir/bin/$a"; done
    ln -sf /bin/env "$dir/usr/bin/env"
    cp "$node" "$dir/usr/bin/node"
    mkdir -p "$dir/usr/lib/node_modules"
    cp -a "$(dirname "$node")/../lib/node_modules/npm" "$dir/usr/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/bin/npx"
    printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' >"$dir/etc/passwd"
  else
    mkdir -p "$dir/nodejs/bin"
    cp "$node" "$dir/nodejs/bin/node"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dir/etc/passwd"
    chown 65532:65532 "$dir/home/nonroot"
  fi
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$dir/etc/group"
}

# pack_image NAME KIND OUT: one layer, in the format `docker load` reads.
pack_image() {
  local name="$1" kind="$2" out="$3" w layer cfg env user
  w="$(mktemp -d)"
  pack_rootfs "$w/rootfs" "$kind"
  tar --sort=name --mtime=@0 --numeric-owner -C "$w/rootfs" -cf "$w/layer.tar" .
  layer="$(sha256sum "$w/layer.tar" | cut -d' ' -f1)"
  if [[ "$kind" == build ]]; then env='["PATH=/usr/bin:/bin"]'; user='""'; else env='["PATH=/nodejs/bin:/bin"]'; user='"65532"'; fi
  printf '{"architecture":"amd64","os":"linux","config":{"Env":%s,"User":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$env" "$user" "$layer" >"$w/config.json"
  cfg="$(sha256sum "$w/config.json" | cut -d' ' -f1)"
  mkdir -p "$w/out/$layer"
  mv "$w/layer.tar" "$w/out/$layer/layer.tar"
  mv "$w/config.json" "$w/out/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg" "$name" "$layer" >"$w/out/manifest.json"
  tar -C "$w/out" -cf "$out.tmp" . && mv "$out.tmp" "$out"
  rm -rf "$w"
}

# --- the dockerd of this build --------------------------------------------------------------
DOCKER_DIR="$CACHE/docker"
RUN_DIR=""
dockerd_pid=""
etc_docker_was_there=false
[[ -e /etc/docker ]] && etc_docker_was_there=true
stop_dockerd() {
  if [[ -n "$dockerd_pid" ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill "$dockerd_pid"
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$dockerd_pid" 2>/dev/null || true
  fi
  [[ -n "$RUN_DIR" ]] && rm -rf "$RUN_DIR"
  # dockerd writes its trust key to /etc/docker: leave the machine as it was.
  $etc_docker_was_there || rm -rf /etc/docker
}
start_dockerd() {
  command -v dockerd >/dev/null || { echo "error: dockerd is missing: apt-get install docker.io" >&2; exit 1; }
  [[ $(id -u) -eq 0 ]] || { echo "error: building the image needs root (a dockerd of our own)" >&2; exit 1; }
  mkdir -p "$DOCKER_DIR/data"
  RUN_DIR="$(mktemp -d /tmp/centaurus-docker.XXXXXX)"
  trap stop_dockerd EXIT
  # A private mount namespace with its own /run (dockerd puts plugin sockets in /run/docker):
  # the layer mounts and those files go away with dockerd, whatever happens.
  unshare --mount --propagation private -- sh -c 'mount -n -t tmpfs -o mode=0755 tmpfs /run && exec "$0" "$@"' dockerd --data-root "$DOCKER_DIR/data" --exec-root "$RUN_DIR/exec" \
    --pidfile "$RUN_DIR/dockerd.pid" -H "unix://$RUN_DIR/docker.sock" --bridge=none --iptables=false \
    --ip6tables=false --ip-masq=false --userland-proxy=false --storage-driver=overlay2 \
    >"$RUN_DIR/dockerd.log" 2>&1 &
  dockerd_pid=$!
  export DOCKER_HOST="unix://$RUN_DIR/docker.sock"
  for _ in $(seq 1 150); do docker version >/dev/null 2>&1 && return; sleep 0.2; done
  echo "error: dockerd did not start; its log:" >&2
  tail -20 "$RUN_DIR/dockerd.log" >&2
  exit 1
}

# One build at a time per cache (its dockerd data root is shared): a second caller waits, then
# usually finds the image built.
exec 8>"$CACHE/.operator-image.lock"
flock 8
if [[ ! -s "$TAR" ]]; then
  step "building $IMAGE from the Dockerfile (first time: a few minutes; cached by content)"
  start_dockerd
  args=()
  if [[ "${CENTAURUS_PUBLIC_BASES:-}" != 1 ]]; then
    for kind in build runtime; do
      base="centaurus.local/node20-$kind:$base_key"
      if ! docker image inspect "$base" >/dev/null 2>&1; then
        step "packing the stand-in base image $base (this machine's Node.js $(node --version))"
        pack_image "$base" "$kind" "$IMAGES/node20-$kind-$base_key.tar"
        docker load -q -i "$IMAGES/node20-$kind-$base_key.tar" >&2
        rm -f "$IMAGES/node20-$kind-$base_key.tar"
      fi
    done
    args+=(--build-arg "BUILD_IMAGE=centaurus.local/node20-build:$base_key" --build-arg "RUNTIME_IMAGE=centaurus.local/node20-runtime:$base_key")
  fi
  ca_file="${NPM_CA_FILE:-}"
  if [[ -z "$ca_file" ]] && compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    ca_file="$(mktemp)"
    cat /usr/local/share/ca-certificates/*.crt >"$ca_file"
  fi
  [[ -n "$ca_file" ]] && args+=(--build-arg "NPM_CA_CERTS=$(cat "$ca_file")")
  # The legacy builder (Debian's dockerd has no buildx); RUN steps use the host's network
  # for npm ci, since this dockerd has no bridge.
  DOCKER_BUILDKIT=0 docker build -q --network=host "${args[@]}" -t "$IMAGE" "$ROOT" >&2
  docker save -o "$TAR.tmp" "$IMAGE" && mv "$TAR.tmp" "$TAR"
  stop_dockerd
  trap - EXIT
fi

if [[ -n "$load" ]]; then
  sock="${CENTAURUS_HOME:-$HOME/.centaurus/clusters}/$load/real/containerd.sock"
  [[ -S "$sock" ]] || { echo "error: cluster $load has no real node (start it with --nodes real=1)" >&2; exit 1; }
  step "importing $IMAGE into the real node of $load"
  ctr --address "$sock" -n k8s.io image import "$TAR" >/dev/null
fi
echo "$IMAGE"
