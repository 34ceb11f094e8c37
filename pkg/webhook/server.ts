// The manager's admission webhook server: HTTPS, one path per webhook, and the one
// ValidatingWebhookConfiguration that tells the API server where they are and which CA to
// trust. Every replica serves (the API server may call any of them behind a Service); only the
// leader writes the configuration. The configuration outlives the process on purpose: a
// webhook with failurePolicy Fail then refuses what it guards while no operator runs, which is
// what keeps a ledger exact.

import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { KubeClient } from "../kube/client.ts";
import { isAlreadyExists, isNotFound } from "../kube/errors.ts";
import type { KubeObject } from "../kube/object.ts";
import { Resources } from "../kube/resource.ts";
import { type Logger, rootLogger } from "../log.ts";
import { parseAddress } from "../manager/http-server.ts";
import type { Runnable } from "../manager/runnable.ts";
import { type ServingCert, selfSignedCert } from "./certs.ts";

/** What the API server sends (admission.k8s.io/v1 AdmissionReview.request), as far as we read it. */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  userInfo?: { username?: string; groups?: string[] };
  object?: KubeObject;
  oldObject?: KubeObject;
  dryRun?: boolean;
}

export interface AdmissionVerdict {
  allowed: boolean;
  /** Shown to the client after `admission webhook "<name>" denied the request: `. */
  message?: string;
  /** HTTP code of the refusal (default 403, as the API server's own quota admission uses). */
  code?: number;
}

export interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  operations: Array<AdmissionRequest["operation"]>;
  scope?: "Namespaced" | "Cluster" | "*";
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }>;
}

export interface Webhook {
  /** A qualified name, e.g. quota.tenancy.centaurus.io; also the path it is served on. */
  name: string;
  rules: WebhookRule[];
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  failurePolicy: "Fail" | "Ignore";
  /** "NoneOnDryRun": the handler writes nothing when request.dryRun is set. */
  sideEffects: "None" | "NoneOnDryRun";
  timeoutSeconds?: number;
  handle(req: AdmissionRequest): Promise<AdmissionVerdict>;
}

export interface WebhookOptions {
  /** Where the HTTPS server listens (default 127.0.0.1:0: a free port on loopback). */
  bindAddress?: string;
  /**
   * How the API server reaches the server. Without a service it calls
   * https://<host>:<bound port>/<name>, host defaulting to the bind host (the local control
   * plane, where the operator runs beside the API server). With one (in a cluster), it calls the
   * Service, and the replicas share one certificate kept in the Secret `<service>-tls`.
   */
  service?: { namespace: string; name: string; port?: number };
  host?: string;
  /** The ValidatingWebhookConfiguration's name (default centaurus). */
  configurationName?: string;
  logger?: Logger;
}

export const DEFAULT_WEBHOOK_CONFIGURATION = "centaurus";

/** metav1.StatusReason for the codes a webhook refuses with. */
const REASONS: Record<number, string> = {
  403: "Forbidden",
  429: "TooManyRequests",
  503: "ServiceUnavailable",
};

export class WebhookServer implements Runnable {
  readonly name = "webhook-server";
  readonly needLeaderElection = false;
  private readonly hooks = new Map<string, Webhook>();
  private server: https.Server | undefined;
  private cert: ServingCert | undefined;
  private readonly log: Logger;
  private inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly client: KubeClient,
    private readonly opts: WebhookOptions = {},
  ) {
    this.log = (opts.logger ?? rootLogger).child({ component: "webhook" });
  }

  register(hook: Webhook): void {
    if (this.server) throw new Error("register webhooks before the manager starts");
    this.hooks.set(`/${hook.name}`, hook);
  }

  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  private registering: { stop: boolean; wake?: () => void; done?: Promise<void> } | undefined;

  /**
   * The leader's part: writes the configuration once the server is up, retrying every few
   * seconds until it lands (until then the API server calls whatever an earlier leader wrote,
   * and refuses what it cannot reach: never lets a create through uncounted).
   */
  readonly registrar: Runnable = {
    name: "webhook-registrar",
    start: async () => {
      if (this.hooks.size === 0) return;
      // The first attempt is awaited: once the manager has started, the API server calls us.
      try {
        await this.writeConfiguration();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "could not write the webhook configuration; retrying");
      }
      const state: { stop: boolean; wake?: () => void; done?: Promise<void> } = { stop: false };
      state.done = (async () => {
        for (let attempt = 2; !state.stop; attempt++) {
          try {
            await this.writeConfiguration();
            return;
          } catch (err) {
            this.log.warn(
              { err: (err as Error).message, attempt },
              "could not write the webhook configuration; retrying in 5 s (check the operator's RBAC on validatingwebhookconfigurations if this repeats)",
            );
          }
          await new Promise<void>((resolve) => {
            state.wake = resolve;
            setTimeout(resolve, 5000).unref();
          });
        }
      })();
      this.registering = state;
    },
    stop: async () => {
      const state = this.registering;
      if (!state) return;
      state.stop = true;
      state.wake?.();
      await state.done;
    },
  };

  async start(): Promise<void> {
    if (this.hooks.size === 0) return;
    const { host, port } = parseAddress(this.opts.bindAddress ?? "127.0.0.1:0");
    this.cert = await this.servingCert(host);
    const server = https.createServer({ cert: this.cert.cert, key: this.cert.key }, (req, res) => {
      const done = this.serve(req, res);
      this.inFlight.add(done);
      void done.finally(() => this.inFlight.delete(done));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          err.code === "EADDRINUSE"
            ? new Error(
                `cannot listen on ${host}:${port}: the port is taken; pick another with --webhook-bind-address`,
              )
            : err,
        ),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    this.log.info(
      { port: this.port, webhooks: [...this.hooks.values()].map((h) => h.name) },
      "webhooks serving",
    );
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await Promise.allSettled([...this.inFlight]);
    // The API server keeps its connections open between calls: close them, or close() waits.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async serve(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) {
    const hook = this.hooks.get(req.url?.split("?")[0] ?? "");
    if (req.method !== "POST" || !hook) {
      res.writeHead(404).end("not found: webhooks are served by POST on their name\n");
      return;
    }
    let body = "";
    for await (const chunk of req) body += chunk;
    let review: { apiVersion?: string; request?: AdmissionRequest };
    try {
      review = JSON.parse(body);
    } catch {
      res.writeHead(400).end("the body is not an AdmissionReview\n");
      return;
    }
    const request = review.request;
    if (!request) {
      res.writeHead(400).end("the AdmissionReview has no request\n");
      return;
    }
    let verdict: AdmissionVerdict;
    try {
      verdict = await hook.handle(request);
    } catch (err) {
      // An error is a refusal (never a silent allow): the client sees why and may retry.
      this.log.warn({ err, webhook: hook.name, uid: request.uid }, "webhook failed; refusing the request");
      verdict = {
        allowed: false,
        code: 500,
        message: `${hook.name} failed: ${(err as Error).message}; retry`,
      };
    }
    const response = {
      uid: request.uid,
      allowed: verdict.allowed,
      ...(verdict.allowed
        ? {}
        : {
            status: {
              code: verdict.code ?? 403,
              reason: REASONS[verdict.code ?? 403] ?? "InternalError",
              message: verdict.message ?? "refused",
            },
          }),
    };
    res
      .writeHead(200, { "Content-Type": "application/json" })
      .end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response }));
  }

  private async servingCert(bindHost: string): Promise<ServingCert> {
    const svc = this.opts.service;
    if (!svc) {
      const host = this.opts.host ?? (bindHost === "0.0.0.0" ? "127.0.0.1" : bindHost);
      return await selfSignedCert([host]);
    }
    // Replicas behind one Service must present a certificate from the one caBundle: the first
    // to start creates it, the others read it.
    const name = `${svc.name}-tls`;
    const read = async () => {
      const s = await this.client.get<KubeObject & { data?: Record<string, string> }>(
        Resources.Secret,
        name,
        svc.namespace,
      );
      const data = s.data ?? {};
      return {
        cert: Buffer.from(data["tls.crt"] ?? "", "base64").toString(),
        key: Buffer.from(data["tls.key"] ?? "", "base64").toString(),
      };
    };
    try {
      return await read();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const cert = await selfSignedCert([
      `${svc.name}.${svc.namespace}.svc`,
      `${svc.name}.${svc.namespace}.svc.cluster.local`,
    ]);
    // Owned by the Service, so it goes with it (helm uninstall leaves no certificate behind).
    const owner = await this.client.get(Resources.Service, svc.name, svc.namespace).catch(() => undefined);
    const ownerReferences = owner?.metadata.uid
      ? [{ apiVersion: "v1", kind: "Service", name: svc.name, uid: owner.metadata.uid }]
      : undefined;
    try {
      await this.client.create(Resources.Secret, {
        metadata: { name, namespace: svc.namespace, ...(ownerReferences ? { ownerReferences } : {}) },
        type: "kubernetes.io/tls",
        data: {
          "tls.crt": Buffer.from(cert.cert).toString("base64"),
          "tls.key": Buffer.from(cert.key).toString("base64"),
        },
      });
      return cert;
    } catch (err) {
      if (isAlreadyExists(err)) return await read();
      throw err;
    }
  }

  private async writeConfiguration(): Promise<void> {
    const cert = this.cert;
    if (!cert) throw new Error("the webhook server must start before its configuration is written");
    const caBundle = Buffer.from(cert.cert).toString("base64");
    const svc = this.opts.service;
    const host = this.opts.host ?? parseAddress(this.opts.bindAddress ?? "127.0.0.1:0").host;
    const urlHost = host === "0.0.0.0" ? "127.0.0.1" : host;
    const webhooks = [...this.hooks.values()].map((h) => ({
      name: h.name,
      admissionReviewVersions: ["v1"],
      clientConfig: svc
        ? {
            caBundle,
            service: { namespace: svc.namespace, name: svc.name, port: svc.port ?? 443, path: `/${h.name}` },
          }
        : { caBundle, url: `https://${urlHost}:${this.port}/${h.name}` },
      rules: h.rules.map((r) => ({ scope: "*", ...r })),
      ...(h.namespaceSelector ? { namespaceSelector: h.namespaceSelector } : {}),
      ...(h.objectSelector ? { objectSelector: h.objectSelector } : {}),
      failurePolicy: h.failurePolicy,
      sideEffects: h.sideEffects,
      timeoutSeconds: h.timeoutSeconds ?? 10,
      matchPolicy: "Equivalent",
    }));
    const name = this.opts.configurationName ?? DEFAULT_WEBHOOK_CONFIGURATION;
    const object = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name, labels: { "app.kubernetes.io/managed-by": "centaurus" } },
      webhooks,
    };
    // A whole replace, not an apply: a webhook dropped from this build must not linger. The
    // labels and annotations of an existing one stay (the helm chart ships it, so that
    // uninstalling removes it; the operator fills in where and whom to trust).
    try {
      const current = await this.client.get(Resources.ValidatingWebhookConfiguration, name);
      await this.client.replace(Resources.ValidatingWebhookConfiguration, {
        ...object,
        metadata: {
          ...current.metadata,
          labels: { ...current.metadata.labels, ...object.metadata.labels },
          managedFields: undefined,
        },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.create(Resources.ValidatingWebhookConfiguration, object);
    }
    this.log.info({ configuration: name, webhooks: webhooks.map((w) => w.name) }, "webhooks registered");
  }
}
