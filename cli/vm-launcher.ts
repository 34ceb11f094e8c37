// `centaurus vm-launcher`: what runs in a VirtualMachine's launcher pod. It boots the guest
// under QEMU (KVM where /dev/kvm works, TCG otherwise, and says which and why), passes the
// serial console through to stdout (so `kubectl logs` shows it), marks the guest ready when
// it has booted, reboots it on SIGHUP and, on SIGTERM, powers it down through ACPI before a
// deadline, so Stopped means a clean shutdown. Its own lines start with "centaurus-launcher:".

import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  type Acceleration,
  GUEST_READY_MARKER,
  type GuestSpec,
  qemuArgs,
} from "../controllers/compute/qemu.ts";
import { Qmp } from "../controllers/compute/qmp.ts";
import { parseMilli } from "../controllers/tenancy/quantity.ts";

export const VM_LAUNCHER_HELP = `centaurus vm-launcher — run one VM's guest under QEMU (the launcher pod's command)

Usage: centaurus vm-launcher --name NS/VM (--kernel FILE [--initrd FILE] [--cmdline TEXT] | --disk FILE
                             | --container-disk DIR)
                             [--cpu 1] [--memory 512Mi] [--data-disk FILE ...] [--cloud-init DIR]
                             [--state DIR] [--stop-timeout 20] [--accel auto|kvm|tcg]

  --container-disk DIR   what a container disk image holds under /disk, copied there by the
                     launcher pod's init container: vmlinuz (and initrd.gz) boot as a kernel, else
                     the first *.qcow2, *.img or *.raw boots as a disk
  --cloud-init DIR   a folder with "userdata" and "ssh_authorized_keys" (the VM's cloud-init Secret)
  --state DIR        where the QMP socket and the "ready" file go (default /run/centaurus-launcher);
                     "ready" appears once the guest has booted (the pod's readiness probe reads it)
  --accel            auto (default): KVM when /dev/kvm opens and the probe guest boots on it
                     within 5 s, else TCG (seen: /dev/kvm present, guests failing on an MSR or hanging)
  --probe-kernel F, --probe-initrd F   the probe guest (default: $CENTAURUS_PROBE_KERNEL and
                     $CENTAURUS_PROBE_INITRD, the test guest in the launcher image); none: TCG

Signals: SIGTERM powers the guest down (ACPI) and exits when it is off, killing it after
--stop-timeout seconds; SIGHUP resets (reboots) the guest.
`;

const say = (line: string) => process.stdout.write(`centaurus-launcher: ${line}\n`);

/** Why KVM cannot be used here, or undefined when /dev/kvm opens. */
function kvmUnavailable(): string | undefined {
  // In a launcher pod /dev/kvm appears only where a device plugin (or the like) hands it in.
  if (!existsSync("/dev/kvm"))
    return "no /dev/kvm here (a launcher pod gets one only from a KVM device plugin)";
  try {
    closeSync(openSync("/dev/kvm", constants.O_RDWR));
    return undefined;
  } catch (err) {
    return `cannot open /dev/kvm: ${(err as Error).message}`;
  }
}

/** What a container disk's folder boots (a kernel, or a disk image), or why it boots nothing. */
function containerDiskBoot(dir: string): { kernel?: string; initrd?: string; disk?: string } | string {
  if (!existsSync(dir)) return `the container disk folder ${dir} does not exist`;
  const files = readdirSync(dir).sort();
  if (files.includes("vmlinuz"))
    return {
      kernel: join(dir, "vmlinuz"),
      initrd: files.includes("initrd.gz") ? join(dir, "initrd.gz") : undefined,
    };
  const disk = files.find((f) => /\.(qcow2|img|raw)$/.test(f));
  if (disk) return { disk: join(dir, disk) };
  return `the container disk holds nothing to boot (no vmlinuz, *.qcow2, *.img or *.raw in ${dir}: ${files.join(", ") || "empty"})`;
}

interface Running {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderrTail: () => string;
}

function startQemu(spec: GuestSpec, onConsole: (text: string) => void): Running {
  const child = spawn("qemu-system-x86_64", qemuArgs(spec), { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => onConsole(d.toString("utf8")));
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString("utf8")).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
    child.on("error", (err) => {
      stderr += String(err);
      resolve({ code: 127, signal: null });
    });
  });
  return { child, exited, stderrTail: () => stderr.trim().split("\n").slice(-3).join(" | ") };
}

/** A tiny guest boots in well under a second on working KVM; here it failed or hung. */
const KVM_PROBE_MS = 5000;

/**
 * Why KVM does not run guests on this node, or undefined when it does: the probe guest must
 * reach its ready marker under KVM in time (an open /dev/kvm is not enough: guests may fail
 * on an MSR or hang).
 */
async function kvmRunsGuests(
  probe: { kernel?: string; initrd?: string },
  state: string,
): Promise<string | undefined> {
  if (!probe.kernel || !existsSync(probe.kernel)) return "no probe guest to try KVM with";
  let out = "";
  const run = startQemu(
    {
      name: "kvm-probe",
      cpu: 1,
      memoryMiB: 128,
      boot: { kernel: probe.kernel, initrd: probe.initrd, cmdline: "console=ttyS0 quiet panic=-1" },
      qmpSocket: join(state, `probe-${process.pid}.sock`),
      accel: "kvm",
    },
    (text) => {
      out = (out + text).slice(-512);
    },
  );
  const deadline = Date.now() + KVM_PROBE_MS;
  let exited = false;
  void run.exited.then(() => {
    exited = true;
  });
  while (!exited && !out.includes(GUEST_READY_MARKER) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  const verdict = out.includes(GUEST_READY_MARKER)
    ? undefined
    : exited
      ? `QEMU with KVM failed: ${run.stderrTail() || "no message"}`
      : `the probe guest did not boot within ${KVM_PROBE_MS / 1000} s under KVM`;
  run.child.kill("SIGKILL");
  await run.exited;
  return verdict;
}

export async function runVmLauncher(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: "string" },
      kernel: { type: "string" },
      initrd: { type: "string" },
      cmdline: { type: "string", default: "console=ttyS0 quiet panic=-1" },
      disk: { type: "string" },
      "container-disk": { type: "string" },
      "data-disk": { type: "string", multiple: true, default: [] },
      cpu: { type: "string", default: "1" },
      memory: { type: "string", default: "512Mi" },
      "cloud-init": { type: "string" },
      state: { type: "string", default: "/run/centaurus-launcher" },
      "stop-timeout": { type: "string", default: "20" },
      accel: { type: "string", default: "auto" },
      "probe-kernel": { type: "string", default: process.env.CENTAURUS_PROBE_KERNEL },
      "probe-initrd": { type: "string", default: process.env.CENTAURUS_PROBE_INITRD },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.name) {
    process.stdout.write(VM_LAUNCHER_HELP);
    return values.help ? 0 : 2;
  }
  const boot = values["container-disk"] ? containerDiskBoot(values["container-disk"]) : values;
  if (typeof boot === "string") {
    say(boot);
    return 1;
  }
  const readOptional = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : undefined);
  const cloudInit = values["cloud-init"];
  const sshKeys = cloudInit ? readOptional(join(cloudInit, "ssh_authorized_keys")) : undefined;
  mkdirSync(values.state, { recursive: true });
  const ready = join(values.state, "ready");
  rmSync(ready, { force: true });
  const spec = (accel: Acceleration): GuestSpec => ({
    name: values.name ?? "",
    cpu: Number(values.cpu),
    memoryMiB: Number(parseMilli(values.memory) / 1000n / (1024n * 1024n)),
    boot: { kernel: boot.kernel, initrd: boot.initrd, disk: boot.disk, cmdline: values.cmdline },
    dataDisks: values["data-disk"],
    userData: cloudInit ? readOptional(join(cloudInit, "userdata")) : undefined,
    sshKeys: sshKeys ? sshKeys.split("\n").filter(Boolean) : undefined,
    qmpSocket: join(values.state, `qmp-${process.pid}.sock`),
    accel,
  });

  let booted = false;
  let boots = 0;
  const started = Date.now();
  let pending = "";
  const onConsole = (text: string) => {
    process.stdout.write(text);
    pending = (pending + text).slice(-512);
    if (pending.includes(GUEST_READY_MARKER)) {
      pending = "";
      boots++;
      if (!booted) say(`guest ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      else say(`guest ready again (boot ${boots})`);
      booted = true;
      writeFileSync(ready, `${boots}\n`);
    }
  };

  let noKvm: string | undefined = values.accel === "tcg" ? "asked for TCG" : kvmUnavailable();
  if (!noKvm && values.accel === "auto")
    noKvm = await kvmRunsGuests(
      { kernel: values["probe-kernel"], initrd: values["probe-initrd"] },
      values.state,
    );
  const accel: Acceleration = values.accel === "kvm" || !noKvm ? "kvm" : "tcg";
  say(`acceleration=${accel}${accel === "tcg" ? ` reason="${(noKvm ?? "").replaceAll('"', "'")}"` : ""}`);
  const run = startQemu(spec(accel), onConsole);

  // QEMU creates the socket as it starts; a QEMU that ends first leaves nothing to control.
  const qmp = await Promise.race([
    Qmp.open(spec(accel).qmpSocket).catch((err: Error) => {
      say(`no QMP control of the guest: ${err.message}`);
      return undefined;
    }),
    run.exited.then(() => undefined),
  ]);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say("stop requested: powering the guest down (ACPI)");
    await qmp?.execute("system_powerdown").catch(() => undefined);
    const deadline = Number(values["stop-timeout"]) * 1000;
    const timer = setTimeout(() => {
      say(`the guest did not power off within ${values["stop-timeout"]} s: killing it`);
      run.child.kill("SIGKILL");
    }, deadline);
    await run.exited;
    clearTimeout(timer);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
  process.on("SIGHUP", () => {
    say("reboot requested: resetting the guest");
    void qmp?.execute("system_reset").catch((err: Error) => say(`reset failed: ${err.message}`));
  });

  const { code, signal } = await run.exited;
  qmp?.close();
  rmSync(ready, { force: true });
  if (stopping && signal !== "SIGKILL") {
    say("guest powered off");
    return 0;
  }
  if (code === 0) {
    say("guest powered off by itself");
    return 0;
  }
  say(`QEMU ended (${signal ?? `exit ${code}`}): ${run.stderrTail() || "no message"}`);
  return 1;
}
