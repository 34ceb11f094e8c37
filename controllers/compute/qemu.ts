// How the launcher runs a guest (pure): QEMU's command line for a VM, and the kernel command
// line that carries its cloud-init data to a kernel-boot guest.

/** What the launcher boots: a kernel and initrd (the test guest), or a disk image. */
export interface GuestBoot {
  kernel?: string;
  initrd?: string;
  /** A bootable disk (raw or qcow2), when no kernel is given. */
  disk?: string;
  /** Kernel command line before the cloud-init data (kernel-boot guests). */
  cmdline?: string;
}

export type Acceleration = "kvm" | "tcg";

export interface GuestSpec {
  name: string;
  cpu: number;
  memoryMiB: number;
  boot: GuestBoot;
  dataDisks?: string[];
  userData?: string;
  sshKeys?: string[];
  /** The QMP control socket the launcher stops and reboots the guest through. */
  qmpSocket: string;
  accel: Acceleration;
}

/** x86's kernel command line holds at most this many bytes (COMMAND_LINE_SIZE). */
export const MAX_CMDLINE = 2048;

/**
 * A kernel-boot guest's command line: the base line, then the user data and SSH keys in
 * base64 (the test guest's init decodes them; a NoCloud seed disk serves disk images).
 * Throws, saying what to do, when they do not fit.
 */
export function kernelCmdline(base: string, userData?: string, sshKeys?: readonly string[]): string {
  const parts = [base.trim()];
  if (userData) parts.push(`centaurus.userdata=${Buffer.from(userData).toString("base64")}`);
  if (sshKeys?.length) parts.push(`centaurus.sshkeys=${Buffer.from(sshKeys.join("\n")).toString("base64")}`);
  const line = parts.filter(Boolean).join(" ");
  if (line.length >= MAX_CMDLINE)
    throw new Error(
      `the user data and SSH keys make a kernel command line of ${line.length} bytes (at most ${MAX_CMDLINE - 1}): ` +
        "shorten them, or boot a disk image, which gets a NoCloud seed instead",
    );
  return line;
}

/** QEMU's arguments for a guest: serial console on stdio, no display, QMP on a socket. */
export function qemuArgs(spec: GuestSpec): string[] {
  const args = [
    "-name",
    spec.name,
    "-accel",
    spec.accel,
    // Under TCG a named CPU model emulates what the guest expects; with KVM the host's.
    "-cpu",
    spec.accel === "kvm" ? "host" : "max",
    "-smp",
    String(spec.cpu),
    "-m",
    `${spec.memoryMiB}M`,
    "-nographic",
    "-serial",
    "mon:stdio",
    "-nodefaults",
    "-no-user-config",
    "-qmp",
    `unix:${spec.qmpSocket},server=on,wait=off`,
    "-nic",
    "none",
  ];
  if (spec.boot.kernel) {
    args.push("-kernel", spec.boot.kernel);
    if (spec.boot.initrd) args.push("-initrd", spec.boot.initrd);
    args.push("-append", kernelCmdline(spec.boot.cmdline ?? "console=ttyS0", spec.userData, spec.sshKeys));
  } else if (spec.boot.disk) {
    args.push("-drive", `file=${spec.boot.disk},if=virtio,snapshot=on`);
  } else {
    throw new Error(`VM ${spec.name} has nothing to boot: give it a kernel or a disk`);
  }
  for (const [i, disk] of (spec.dataDisks ?? []).entries())
    args.push("-drive", `file=${disk},if=virtio,format=raw,index=${i + 1}`);
  return args;
}

/** The console line the test guest prints once it has booted (Running means the guest is up). */
export const GUEST_READY_MARKER = "centaurus-guest: ready";
