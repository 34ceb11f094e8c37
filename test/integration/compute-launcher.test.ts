// The VM launcher as a process, the way the launcher pod runs it: it boots the test guest
// under QEMU (TCG here: KVM guests do not run on this machine, and the launcher says so),
// passes the console through with the user data the guest saw, marks the guest ready,
// reboots it on SIGHUP and powers it down cleanly on SIGTERM.

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { waitFor } from "../../pkg/testing/wait.ts";

function guestFolder(): string | undefined {
  if (spawnSync("qemu-system-x86_64", ["--version"]).status !== 0) return undefined;
  try {
    return execFileSync("bash", ["images/guest/build.sh"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

describe("compute: the VM launcher boots a real guest", function () {
  this.timeout(120_000);
  let guest: string | undefined;
  let dir: string;
  let launcher: ChildProcess | undefined;
  let out = "";
  let exit: Promise<number | null>;

  before(function () {
    guest = guestFolder();
    if (!guest) {
      process.stdout.write(
        "      (skipped: needs qemu-system-x86 and the test guest: apt-get install qemu-system-x86)\n",
      );
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), "vm-launcher-"));
    writeFileSync(join(dir, "userdata"), "#cloud-config\nruncmd: [echo centaurus-marker-7731]\n");
    writeFileSync(join(dir, "ssh_authorized_keys"), "ssh-ed25519 AAAAC3Nza test@centaurus\n");
  });
  after(() => {
    launcher?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const start = (extra: string[]) => {
    out = "";
    const child = spawn(
      "node",
      [
        "--import",
        "tsx",
        "bin/centaurus.ts",
        "vm-launcher",
        "--name",
        "test/vm",
        "--memory",
        "256Mi",
        ...extra,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    exit = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    return child;
  };

  it("boots the guest with its user data and SSH keys, says which acceleration and why, and marks it ready", async () => {
    launcher = start([
      "--kernel",
      join(guest ?? "", "vmlinuz"),
      "--initrd",
      join(guest ?? "", "initrd.gz"),
      "--probe-kernel",
      join(guest ?? "", "vmlinuz"),
      "--probe-initrd",
      join(guest ?? "", "initrd.gz"),
      "--cloud-init",
      dir,
      "--state",
      join(dir, "state"),
    ]);
    await waitFor("the guest to be ready", () => existsSync(join(dir, "state", "ready")), {
      timeoutMs: 60_000,
    });
    expect(out).to.match(/centaurus-launcher: acceleration=(kvm|tcg)/);
    if (out.includes("acceleration=tcg")) expect(out).to.match(/acceleration=tcg reason="[^"]+"/);
    expect(out).to.contain("centaurus-guest: booted kernel");
    expect(out).to.contain("runcmd: [echo centaurus-marker-7731]");
    expect(out).to.contain("ssh-ed25519 AAAAC3Nza test@centaurus");
    expect(out).to.match(/centaurus-launcher: guest ready after [\d.]+ s/);
  });

  it("reboots the guest itself on SIGHUP: the console shows a second boot", async () => {
    launcher?.kill("SIGHUP");
    await waitFor("a second boot", () => out.includes("guest ready again (boot 2)"), { timeoutMs: 60_000 });
    expect(out.split("centaurus-guest: booted kernel").length - 1).to.equal(2);
  });

  it("powers the guest down through ACPI on SIGTERM and exits 0 once it is off", async () => {
    const t0 = Date.now();
    launcher?.kill("SIGTERM");
    expect(await exit, out.slice(-1500)).to.equal(0);
    expect(Date.now() - t0).to.be.below(15_000);
    expect(out).to.contain("centaurus-guest: power button: shutting down");
    expect(out).to.contain("centaurus-launcher: guest powered off");
    expect(existsSync(join(dir, "state", "ready"))).to.equal(false);
    launcher = undefined;
  });

  it("a guest that cannot boot ends the launcher with QEMU's reason", async () => {
    launcher = start([
      "--kernel",
      join(dir, "no-such-kernel"),
      "--accel",
      "tcg",
      "--state",
      join(dir, "state2"),
    ]);
    expect(await exit, out.slice(-1500)).to.equal(1);
    expect(out).to.match(/centaurus-launcher: QEMU ended \(exit 1\): .*no-such-kernel/);
    launcher = undefined;
  });
});
