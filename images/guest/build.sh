#!/usr/bin/env bash
# Builds the small test guest for VirtualMachines: Debian's cloud kernel (from apt, no
# registry needed) and a busybox initramfs whose init (images/guest/init) prints its boot,
# the cloud-init user data it was given on the kernel command line
# (centaurus.userdata=<base64>) and a ready marker, and powers off on the ACPI power button.
# Seen on this machine: under QEMU TCG it is ready about 3 s after start, and
# `system_powerdown` over QMP powers it off in well under a second.
#
#   images/guest/build.sh        prints the folder holding vmlinuz and initrd.gz
#
# Cached by content (kernel version + init script) under ~/.cache/centaurus/guest/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${CENTAURUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/centaurus}"
KERNEL_PACKAGE="${GUEST_KERNEL_PACKAGE:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[^ ]*\)/\1/p' | head -1)}"
[[ -n "$KERNEL_PACKAGE" ]] || { echo "error: no linux-image-cloud-amd64 in apt (apt-get update?)" >&2; exit 1; }
key="$(printf '%s\n' "$KERNEL_PACKAGE" | cat - "$HERE/init" "$0" | sha256sum | cut -c1-16)"
OUT="$CACHE/guest/$key"
if [[ -s "$OUT/vmlinuz" && -s "$OUT/initrd.gz" ]]; then echo "$OUT"; exit 0; fi
for tool in busybox cpio gzip apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install busybox-static cpio)" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "building the test guest from $KERNEL_PACKAGE into $OUT" >&2
(cd "$work" && apt-get download "$KERNEL_PACKAGE" >/dev/null 2>&1)
dpkg-deb -x "$work"/"$KERNEL_PACKAGE"_*.deb "$work/kernel"
release="${KERNEL_PACKAGE#linux-image-}"
modules="$work/kernel/lib/modules/$release/kernel"
root="$work/initrd"
mkdir -p "$root"/{bin,proc,sys,dev,etc,lib/modules}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in sh mount echo cat sleep poweroff reboot insmod base64 acpid mkdir printf chmod readlink; do
  ln -sf busybox "$root/bin/$applet"
done
# evdev and the ACPI button: the power button reaches acpid, which powers off cleanly.
cp "$modules/drivers/input/evdev.ko" "$modules/drivers/acpi/button.ko" "$root/lib/modules/"
install -m 0755 "$HERE/init" "$root/init"
mkdir -p "$OUT.tmp"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$OUT.tmp/initrd.gz"
cp "$work/kernel/boot/vmlinuz-$release" "$OUT.tmp/vmlinuz"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "$OUT"
