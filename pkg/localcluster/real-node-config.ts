// What a real node of one cluster is made of, as data (pure: no I/O): where its files live,
// the names it takes on the host (bridge, cgroup root, pod subnet), and the configuration of
// its containerd, kubelet and CNI network. real-node.ts starts the processes from these.

import { createHash } from "node:crypto";
import { join } from "node:path";
import { stringify } from "yaml";

export const REAL_NODE_NAME = "real-0";
export const SANDBOX_IMAGE = "centaurus.local/pause:1";
export const TEST_IMAGE = "centaurus.local/busybox:1";
/** The kubernetes Service's ClusterIP (the first address of --service-cluster-ip-range). */
export const KUBERNETES_SERVICE_IP = "10.96.0.1";

export interface RealNodeLayout {
  dir: string;
  containerdConfig: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  kubeletRoot: string;
  kubeletConfig: string;
  kubeletKubeconfig: string;
  cniConfDir: string;
  cniIpamDir: string;
}

export function realNodeLayout(clusterDir: string): RealNodeLayout {
  const dir = join(clusterDir, "real");
  const layout = {
    dir,
    containerdConfig: join(dir, "containerd.toml"),
    containerdRoot: join(dir, "containerd", "root"),
    containerdState: join(dir, "containerd", "state"),
    containerdSocket: join(dir, "containerd.sock"),
    kubeletRoot: join(dir, "kubelet"),
    kubeletConfig: join(dir, "kubelet.yaml"),
    kubeletKubeconfig: join(dir, "kubelet.kubeconfig"),
    cniConfDir: join(dir, "cni", "net.d"),
    cniIpamDir: join(dir, "cni", "ipam"),
  };
  // A unix socket path is at most 107 bytes; containerd also appends ".ttrpc".
  if (layout.containerdSocket.length > 100) {
    throw new Error(
      `the real node's containerd socket path ${layout.containerdSocket} is too long for a unix socket: set CENTAURUS_HOME to a shorter folder`,
    );
  }
  return layout;
}

/** Host-wide names one cluster's real node takes; distinct per cluster so several run at once. */
export interface HostNames {
  /** Linux interface names are at most 15 characters: "cz" and 8 hex digits of the name's hash. */
  bridge: string;
  /** The cgroup (in every hierarchy) under which kubelet, containerd and every pod run. */
  cgroupRoot: string;
}

export function hostNames(cluster: string): HostNames {
  const hash = createHash("sha256").update(cluster).digest("hex").slice(0, 8);
  return { bridge: `cz${hash}`, cgroupRoot: `centaurus-${cluster}` };
}

/** The pod subnet of claim number `index` (0..255): 10.88.<index>.0/24, gateway .1 on the bridge. */
export function podSubnet(index: number): { cidr: string; gateway: string; prefix: string } {
  if (!Number.isInteger(index) || index < 0 || index > 255) throw new Error(`bad pod subnet index ${index}`);
  return { cidr: `10.88.${index}.0/24`, gateway: `10.88.${index}.1`, prefix: `10.88.${index}.` };
}

export function containerdConfig(l: RealNodeLayout): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `# Written by centaurus: this cluster's own containerd (never the system one).
version = 2
root = ${JSON.stringify(l.containerdRoot)}
state = ${JSON.stringify(l.containerdState)}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = ${JSON.stringify(l.containerdSocket)}
[ttrpc]
  address = ${JSON.stringify(`${l.containerdSocket}.ttrpc`)}
[debug]
  address = ""
[metrics]
  address = ""

[${cri}]
  sandbox_image = "${SANDBOX_IMAGE}"
  # Processes here lack CAP_SYS_RESOURCE: lowering a child's oom_score_adj below ours fails.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${JSON.stringify(l.cniConfDir)}
    max_conf_num = 1
`;
}

/**
 * The CNI network: Debian's bridge plugin on this cluster's own bridge, addresses from
 * host-local with its state in the cluster's folder. No masquerading and no default route
 * out of the machine: pods reach each other and the gateway, nothing else.
 */
export function cniConfig(l: RealNodeLayout, names: HostNames, subnetIndex: number): string {
  const net = podSubnet(subnetIndex);
  return `${JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: `centaurus-${names.bridge}`,
      plugins: [
        {
          type: "bridge",
          bridge: names.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            dataDir: l.cniIpamDir,
            ranges: [[{ subnet: net.cidr, gateway: net.gateway }]],
            // Only the gateway itself: the API server is reached there (see real-node-host.ts).
            routes: [{ dst: `${KUBERNETES_SERVICE_IP}/32` }],
          },
        },
        { type: "loopback" },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletPorts {
  port: number;
  healthz: number;
}

export function kubeletConfig(opts: {
  layout: RealNodeLayout;
  names: HostNames;
  ports: KubeletPorts;
  caCert: string;
  servingCert: string;
  servingKey: string;
}): string {
  const l = opts.layout;
  return stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: "127.0.0.1",
    port: opts.ports.port,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: opts.ports.healthz,
    tlsCertFile: opts.servingCert,
    tlsPrivateKeyFile: opts.servingKey,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: opts.caCert },
    },
    authorization: { mode: "Webhook" },
    containerRuntimeEndpoint: `unix://${l.containerdSocket}`,
    // This machine mounts cgroup v1 hierarchies (with a hybrid v2 mount): kubelet 1.36 needs
    // to be told that is accepted, and the cgroupfs driver (no systemd here).
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    cgroupRoot: `/${opts.names.cgroupRoot}`,
    failSwapOn: false,
    volumePluginDir: join(l.kubeletRoot, "volume-plugins"),
    resolvConf: "/etc/resolv.conf",
    // A development machine's disk is often fuller than kubelet's defaults allow: evict only
    // when it is really full, and never collect the hand-imported images (no registry to re-pull).
    evictionHard: {
      "memory.available": "100Mi",
      "nodefs.available": "1%",
      "nodefs.inodesFree": "1%",
      "imagefs.available": "1%",
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    maxPods: 110,
    nodeStatusReportFrequency: "10s",
    syncFrequency: "10s",
    fileCheckFrequency: "10s",
    shutdownGracePeriod: "0s",
    logging: { format: "text" },
  });
}
