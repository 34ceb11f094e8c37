// The fast kubeconfig reader: what it reads itself, and what it leaves to client-node.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { stringify } from "yaml";
import { kubeconfigPath, parseKubeconfig } from "../../pkg/kube/kubeconfig.ts";

const config = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) =>
  stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "other", cluster: { server: "https://10.0.0.1:6443" } },
      {
        name: "c",
        cluster: { server: "https://127.0.0.1:6443", "certificate-authority-data": "Q0E=", ...cluster },
      },
    ],
    users: [{ name: "u", user }],
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
    "current-context": "ctx",
  });

describe("kubeconfig reader", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the current context's server, CA and bearer token", () => {
    const c = parseKubeconfig(config({ token: "abc" }), dir);
    expect(c?.server.href).to.equal("https://127.0.0.1:6443/");
    expect(c?.options.ca?.toString()).to.equal("CA");
    expect(c?.options.headers).to.deep.equal({ Authorization: "Bearer abc" });
  });

  it("reads token files and client certificates relative to the kubeconfig's folder", () => {
    writeFileSync(join(dir, "token"), "from-file\n");
    writeFileSync(join(dir, "ca.crt"), "CA-FILE");
    writeFileSync(join(dir, "client.crt"), "CERT");
    const c = parseKubeconfig(
      config(
        { tokenFile: "token", "client-certificate": "client.crt", "client-key-data": "S0VZ" },
        { "certificate-authority-data": undefined, "certificate-authority": "ca.crt" },
      ),
      dir,
    );
    expect(c?.options.headers).to.deep.equal({ Authorization: "Bearer from-file" });
    expect(c?.options.ca?.toString()).to.equal("CA-FILE");
    expect(c?.options.cert?.toString()).to.equal("CERT");
    expect(c?.options.key?.toString()).to.equal("KEY");
  });

  it("leaves exec plugins, auth providers, basic auth and a missing context to client-node", () => {
    expect(parseKubeconfig(config({ exec: { command: "aws" } }), dir)).to.equal(undefined);
    expect(parseKubeconfig(config({ "auth-provider": { name: "oidc" } }), dir)).to.equal(undefined);
    expect(parseKubeconfig(config({ username: "a", password: "b" }), dir)).to.equal(undefined);
    expect(parseKubeconfig("apiVersion: v1\nkind: Config\n", dir)).to.equal(undefined);
  });

  it("finds the file client-node would read, and none when KUBECONFIG lists several", () => {
    const saved = process.env.KUBECONFIG;
    try {
      expect(kubeconfigPath("/x/explicit")).to.equal("/x/explicit");
      process.env.KUBECONFIG = "/a/one";
      expect(kubeconfigPath()).to.equal("/a/one");
      process.env.KUBECONFIG = "/a/one:/b/two";
      expect(kubeconfigPath()).to.equal(undefined);
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });
});
