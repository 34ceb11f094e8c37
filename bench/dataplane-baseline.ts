// The baseline path for the data-plane throughput benchmark: two "pods" on two lab hosts
// joined by what a kernel alone offers — a veth into each host, IP forwarding, and a static
// (non-external) VXLAN device between the hosts. No eBPF on the path.

import { type Lab, sh } from "../test/fixtures/dataplane.ts";

export async function plainVxlanPair(
  lab: Lab,
  h1: string,
  h2: string,
): Promise<{ server: string; client: string; serverIP: string }> {
  const hosts = [h1, h2];
  const ends: string[] = [];
  for (const [i, host] of hosts.entries()) {
    const ns = lab.hostNetns(host);
    const pod = `${lab.id}-plain${i}`;
    await sh("ip", "netns", "add", pod);
    lab.adopt(pod);
    const other = lab.hostIPs.get(hosts[1 - i] as string) as string;
    const me = lab.hostIPs.get(host) as string;
    const n = i + 1;
    const ipIn = (...a: string[]) => sh("ip", "-n", ns, ...a);
    await ipIn(
      "link",
      "add",
      "vxb",
      "type",
      "vxlan",
      "id",
      "4242",
      "remote",
      other,
      "local",
      me,
      "dstport",
      "4790",
      "dev",
      "eth0",
    );
    await ipIn("addr", "add", `10.216.9.${n}/24`, "dev", "vxb");
    await ipIn("link", "set", "vxb", "mtu", "1450", "up");
    await ipIn(
      "link",
      "add",
      "vb",
      "mtu",
      "1450",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "mtu",
      "1450",
      "netns",
      pod,
    );
    await ipIn("addr", "add", `10.216.${n}.1/24`, "dev", "vb");
    await ipIn("link", "set", "vb", "up");
    await ipIn("route", "add", `10.216.${3 - n}.0/24`, "via", `10.216.9.${3 - n}`);
    await sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    await sh("ip", "-n", pod, "addr", "add", `10.216.${n}.2/24`, "dev", "eth0");
    await sh("ip", "-n", pod, "link", "set", "eth0", "up");
    await sh("ip", "-n", pod, "link", "set", "lo", "up");
    await sh("ip", "-n", pod, "route", "add", "default", "via", `10.216.${n}.1`);
    ends.push(pod);
  }
  return { server: ends[1] as string, client: ends[0] as string, serverIP: "10.216.2.2" };
}
