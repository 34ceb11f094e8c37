import { expect } from "chai";
import { parse } from "yaml";
import {
  cniConfig,
  containerdConfig,
  hostNames,
  KUBERNETES_SERVICE_IP,
  kubeletConfig,
  podSubnet,
  realNodeLayout,
} from "../../pkg/localcluster/real-node-config.ts";

describe("localcluster: real node configuration", () => {
  const layout = realNodeLayout("/home/u/.centaurus/clusters/root");
  const names = hostNames("root");

  it("gives each cluster its own bridge (a valid interface name) and cgroup root", () => {
    const other = hostNames("edge-1");
    expect(names.bridge).to.match(/^cz[0-9a-f]{8}$/);
    expect(names.bridge.length).to.be.at.most(15);
    expect(other.bridge).not.to.equal(names.bridge);
    expect(other.cgroupRoot).to.equal("centaurus-edge-1");
  });

  it("refuses a containerd socket path too long for a unix socket", () => {
    expect(() => realNodeLayout(`/${"x".repeat(90)}`)).to.throw(/too long for a unix socket.*CENTAURUS_HOME/);
  });

  it("pod subnets are /24s of 10.88.0.0/16 with the gateway at .1", () => {
    expect(podSubnet(7)).to.deep.equal({ cidr: "10.88.7.0/24", gateway: "10.88.7.1", prefix: "10.88.7." });
    expect(() => podSubnet(256)).to.throw(/bad pod subnet/);
  });

  it("containerd: its own root, state and socket, runc with cgroupfs, restricted oom_score_adj", () => {
    const toml = containerdConfig(layout);
    expect(toml).to.contain(`root = "${layout.containerdRoot}"`);
    expect(toml).to.contain(`address = "${layout.containerdSocket}"`);
    expect(toml).to.contain("restrict_oom_score_adj = true");
    expect(toml).to.contain("SystemdCgroup = false");
    expect(toml).to.contain('stream_server_address = "127.0.0.1"');
    // Each table once: containerd refuses duplicated tables.
    const tables = toml.split("\n").filter((l) => l.trim().startsWith("["));
    expect(new Set(tables).size).to.equal(tables.length);
  });

  it("CNI: the cluster's bridge, no masquerading, no default route, only the API server's address", () => {
    const conf = JSON.parse(cniConfig(layout, names, 3));
    const bridge = conf.plugins[0];
    expect(bridge.bridge).to.equal(names.bridge);
    expect(bridge.ipMasq).to.equal(false);
    expect(bridge.isDefaultGateway).to.equal(undefined);
    expect(bridge.ipam.dataDir).to.equal(layout.cniIpamDir);
    expect(bridge.ipam.routes).to.deep.equal([{ dst: `${KUBERNETES_SERVICE_IP}/32` }]);
    expect(bridge.ipam.ranges[0][0].subnet).to.equal("10.88.3.0/24");
  });

  it("kubelet: listens on 127.0.0.1 with client-certificate auth, cgroupfs under the cluster's root", () => {
    const cfg = parse(
      kubeletConfig({
        layout,
        names,
        ports: { port: 1, healthz: 2 },
        caCert: "ca",
        servingCert: "c",
        servingKey: "k",
      }),
    );
    expect(cfg.address).to.equal("127.0.0.1");
    expect(cfg.healthzBindAddress).to.equal("127.0.0.1");
    expect(cfg.readOnlyPort).to.equal(0);
    expect(cfg.authentication.anonymous.enabled).to.equal(false);
    expect(cfg.authentication.x509.clientCAFile).to.equal("ca");
    expect(cfg.authorization.mode).to.equal("Webhook");
    expect(cfg.cgroupRoot).to.equal("/centaurus-root");
    expect(cfg.cgroupDriver).to.equal("cgroupfs");
    expect(cfg.failCgroupV1).to.equal(false);
    expect(cfg.containerRuntimeEndpoint).to.equal(`unix://${layout.containerdSocket}`);
  });
});
