// QEMU's command line for a guest, and the kernel command line that carries cloud-init data.

import { expect } from "chai";
import { type GuestSpec, kernelCmdline, MAX_CMDLINE, qemuArgs } from "../../controllers/compute/qemu.ts";

const spec = (over: Partial<GuestSpec> = {}): GuestSpec => ({
  name: "acme/web",
  cpu: 2,
  memoryMiB: 1024,
  boot: { kernel: "/g/vmlinuz", initrd: "/g/initrd.gz" },
  qmpSocket: "/run/l/qmp.sock",
  accel: "tcg",
  ...over,
});

describe("compute: QEMU for a guest", () => {
  it("boots a kernel with the serial console on stdio, QMP on its socket, CPUs and memory from the spec", () => {
    const args = qemuArgs(spec({ userData: "#cloud-config\n", sshKeys: ["ssh-ed25519 A a@b"] }));
    const flagValue = (flag: string) => args[args.indexOf(flag) + 1];
    expect(flagValue("-accel")).to.equal("tcg");
    expect(flagValue("-cpu")).to.equal("max");
    expect(flagValue("-smp")).to.equal("2");
    expect(flagValue("-m")).to.equal("1024M");
    expect(flagValue("-serial")).to.equal("mon:stdio");
    expect(flagValue("-qmp")).to.equal("unix:/run/l/qmp.sock,server=on,wait=off");
    expect(flagValue("-kernel")).to.equal("/g/vmlinuz");
    expect(flagValue("-initrd")).to.equal("/g/initrd.gz");
    const cmdline = flagValue("-append") ?? "";
    expect(cmdline).to.match(/^console=ttyS0 centaurus\.userdata=/);
    const b64 = /centaurus\.userdata=(\S+)/.exec(cmdline)?.[1] ?? "";
    expect(Buffer.from(b64, "base64").toString()).to.equal("#cloud-config\n");
    expect(qemuArgs(spec({ accel: "kvm" }))).to.include("host");
  });

  it("boots a disk (never written: snapshot) and attaches data disks after it", () => {
    const args = qemuArgs(spec({ boot: { disk: "/d/boot.qcow2" }, dataDisks: ["/d/data.img"] }));
    expect(args).to.include("file=/d/boot.qcow2,if=virtio,snapshot=on");
    expect(args).to.include("file=/d/data.img,if=virtio,format=raw,index=1");
    expect(args).not.to.include("-kernel");
    expect(() => qemuArgs(spec({ boot: {} }))).to.throw(/nothing to boot/);
  });

  it("refuses user data that would not fit on the kernel command line, saying what to do", () => {
    expect(kernelCmdline("console=ttyS0")).to.equal("console=ttyS0");
    expect(() => kernelCmdline("console=ttyS0", "x".repeat(MAX_CMDLINE))).to.throw(/at most 2047.*NoCloud/);
  });
});
