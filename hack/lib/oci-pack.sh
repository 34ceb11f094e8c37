# Sourced by the image scripts: packing a folder into a one-layer OCI archive by hand (no
# registry and no image builder needed). `ctr -n k8s.io image import` reads the image's full
# name from the index's io.containerd.image.name annotation.

sha() { sha256sum "$1" | cut -d' ' -f1; }

# pack_oci NAME ROOTFS ENTRYPOINT_JSON USER PATH OUT_TAR: one layer, one manifest, one index.
# USER "" leaves the image's user unset (root); the tar is reproducible (sorted, mtime 0).
pack_oci() {
  local name="$1" rootfs="$2" entry="$3" user="$4" path="$5" out="$6" oci layer size config csize manifest msize
  local user_field=""
  [[ -n "$user" ]] && user_field="\"User\":\"$user\","
  oci="$(mktemp -d)"
  mkdir -p "$oci/blobs/sha256"
  tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$oci/layer.tar" .
  layer="$(sha "$oci/layer.tar")"; size="$(stat -c %s "$oci/layer.tar")"
  mv "$oci/layer.tar" "$oci/blobs/sha256/$layer"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,%s"Env":["PATH=%s"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entry" "$user_field" "$path" "$layer" >"$oci/config.json"
  config="$(sha "$oci/config.json")"; csize="$(stat -c %s "$oci/config.json")"
  mv "$oci/config.json" "$oci/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$csize" "$layer" "$size" >"$oci/manifest.json"
  manifest="$(sha "$oci/manifest.json")"; msize="$(stat -c %s "$oci/manifest.json")"
  mv "$oci/manifest.json" "$oci/blobs/sha256/$manifest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$msize" "$name" "${name##*:}" >"$oci/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
  tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$oci" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  rm -rf "$oci"
}
