// The pod annotations through which the network pillar and a pod's owner meet: the subnets a
// pod's interfaces join (written by the owner, e.g. a VM's launcher) and the VPC addresses
// the network pillar gave them (written by it). One copy, read by both pillars.

/** Pod annotation: the subnet(s) of its interfaces, comma-separated (eth0 first; VMs may list several). */
export const SUBNET_ANNOTATION = "network.centaurus.io/subnet";
/** Pod annotation written by the network pillar: the VPC (overlay) IP of eth0. */
export const IP_ANNOTATION = "network.centaurus.io/ip";
/** Pod annotation written by the network pillar when it has several interfaces: "eth0=ip,eth1=ip". */
export const IPS_ANNOTATION = "network.centaurus.io/ips";

/** The VPC addresses a pod's annotations carry, per interface in order (eth0 first); [] for none. */
export function vpcAddresses(
  annotations: Record<string, string> | undefined,
): Array<{ iface: string; ip: string }> {
  const multi = annotations?.[IPS_ANNOTATION];
  if (multi) {
    return multi
      .split(",")
      .map((pair) => pair.split("="))
      .filter((kv): kv is [string, string] => kv.length === 2 && !!kv[0] && !!kv[1])
      .map(([iface, ip]) => ({ iface, ip }));
  }
  const ip = annotations?.[IP_ANNOTATION];
  return ip ? [{ iface: "eth0", ip }] : [];
}
