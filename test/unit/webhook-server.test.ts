// The admission webhook server on its own: HTTPS with the certificate it made (the caBundle),
// an AdmissionReview in, a verdict out; a handler that throws refuses (never allows).

import * as https from "node:https";
import { expect } from "chai";
import { KubeClient } from "../../pkg/kube/client.ts";
import { selfSignedCert } from "../../pkg/webhook/certs.ts";
import { type AdmissionRequest, WebhookServer } from "../../pkg/webhook/server.ts";

function post(
  port: number,
  path: string,
  ca: string,
  body: unknown,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port, path, method: "POST", ca, headers: { "Content-Type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, json: text.startsWith("{") ? JSON.parse(text) : text }),
        );
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("webhook server", () => {
  it("makes a certificate for the hosts the API server dials, usable as its own CA", async () => {
    const { cert, key } = await selfSignedCert(["127.0.0.1", "hook.ns.svc"]);
    const x = new (await import("node:crypto")).X509Certificate(cert);
    expect(x.subjectAltName).to.equal("IP Address:127.0.0.1, DNS:hook.ns.svc");
    expect(x.ca).to.equal(true);
    expect(key).to.match(/^-----BEGIN PRIVATE KEY-----/);
  });

  it("answers AdmissionReviews over TLS: allowed, refused with a message, refused when the handler throws", async () => {
    // The client is only read in Service mode (the shared certificate's Secret).
    const client = KubeClient.fromOptions(new URL("https://127.0.0.1:1"), {});
    const server = new WebhookServer(client, { bindAddress: "127.0.0.1:0" });
    const seen: AdmissionRequest[] = [];
    server.register({
      name: "test.centaurus.io",
      rules: [],
      failurePolicy: "Fail",
      sideEffects: "None",
      handle: async (req) => {
        seen.push(req);
        if (req.name === "boom") throw new Error("ledger unreachable");
        return req.name === "ok" ? { allowed: true } : { allowed: false, message: "no room" };
      },
    });
    await server.start();
    try {
      const ca = (server as unknown as { cert: { cert: string } }).cert.cert;
      const review = (name: string) => ({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: { uid: `u-${name}`, name, operation: "CREATE", kind: {}, resource: { resource: "pods" } },
      });
      const port = server.port ?? 0;
      const ok = await post(port, "/test.centaurus.io", ca, review("ok"));
      expect(ok.json).to.deep.include({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" });
      expect((ok.json as { response: unknown }).response).to.deep.equal({ uid: "u-ok", allowed: true });
      const no = (await post(port, "/test.centaurus.io", ca, review("full"))).json as {
        response: { allowed: boolean; status: { code: number; reason: string; message: string } };
      };
      expect(no.response.allowed).to.equal(false);
      expect(no.response.status).to.deep.equal({ code: 403, reason: "Forbidden", message: "no room" });
      const boom = (await post(port, "/test.centaurus.io", ca, review("boom"))).json as {
        response: { allowed: boolean; status: { code: number; message: string } };
      };
      expect(boom.response.allowed).to.equal(false);
      expect(boom.response.status.code).to.equal(500);
      expect(boom.response.status.message).to.match(/ledger unreachable; retry/);
      expect((await post(port, "/elsewhere", ca, review("ok"))).status).to.equal(404);
      expect(seen.map((r) => r.name)).to.deep.equal(["ok", "full", "boom"]);
    } finally {
      await server.stop();
      client.close();
    }
  });
});
