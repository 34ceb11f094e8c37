// A small typed REST client for the Kubernetes API.
//
// Why our own: @kubernetes/client-node's generated clients cover built-in kinds only and its
// watch gives no control over timeouts, bookmarks or silent streams. We reuse its KubeConfig
// (kubeconfig parsing, in-cluster config, auth plugins; plain kubeconfigs are read by
// kubeconfig.ts for a fast start) and speak HTTP with node's own http/https modules over
// keep-alive agents.

import * as http from "node:http";
import * as https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { ApiError, type StatusBody } from "./errors.ts";
import type { KubeList, KubeObject } from "./object.ts";
import { apiVersionOf, collectionPath, objectPath, type ResourceType } from "./resource.ts";

export type PatchType = "json" | "merge" | "strategic" | "apply";

const patchContentType: Record<PatchType, string> = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

/** The field manager for everything Centaurus writes. */
export const FIELD_MANAGER = "centaurus";

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** The Accept header (default application/json), e.g. a Table as kubectl asks for one. */
  accept?: string;
  signal?: AbortSignal;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; pages are fetched until the list is complete. */
  limit?: number;
  resourceVersion?: string;
  signal?: AbortSignal;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
  signal?: AbortSignal;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  /** For ERROR this is a Status, not an object. */
  object: T;
}

/** Called once per HTTP request with its verb and status code (0 when no answer came). */
export type RequestObserver = (method: string, code: number, host: string) => void;

function encodeBody(body: unknown): string {
  return typeof body === "string" ? body : JSON.stringify(body);
}

export class KubeClient {
  readonly server: URL;
  private readonly baseOptions: https.RequestOptions;
  private readonly agent: http.Agent;
  private readonly watchAgent: http.Agent;
  private readonly observers: RequestObserver[] = [];

  private constructor(server: URL, baseOptions: https.RequestOptions) {
    this.server = server;
    this.baseOptions = baseOptions;
    const isHttps = server.protocol === "https:";
    const tls = {
      ca: baseOptions.ca,
      cert: baseOptions.cert,
      key: baseOptions.key,
      rejectUnauthorized: baseOptions.rejectUnauthorized,
      servername: baseOptions.servername,
    };
    // Reused sockets for ordinary calls; watches get their own agent so long-lived streams
    // never starve the pool that reconcilers write through.
    this.agent = isHttps
      ? new https.Agent({ keepAlive: true, maxSockets: 64, ...tls })
      : new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.watchAgent = isHttps ? new https.Agent({ keepAlive: false, ...tls }) : new http.Agent();
  }

  /** A client for a server with the TLS options and headers (Authorization) to use. */
  static fromOptions(server: URL, options: https.RequestOptions): KubeClient {
    return new KubeClient(server, options);
  }

  static async fromKubeConfig(kc: KubeConfig): Promise<KubeClient> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster: set current-context or KUBECONFIG");
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    // The kubeconfig's tls-server-name: verify the server under that name (applyToHTTPSOptions
    // does not carry it over).
    if (cluster.tlsServerName) opts.servername = cluster.tlsServerName;
    return new KubeClient(new URL(cluster.server), opts);
  }

  /**
   * The same server and credentials over a connection pool of its own. An admission webhook
   * writes through one: calls it serves arrive while the process's own creates wait on it, and
   * a shared pool full of those creates would wait on the webhook forever (until its timeout).
   */
  withOwnPool(): KubeClient {
    const c = new KubeClient(this.server, this.baseOptions);
    for (const o of this.observers) c.observe(o);
    return c;
  }

  /** Register a callback for every request (used for rest_client_requests_total). */
  observe(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  private open(method: string, path: string, opts: RequestOptions, agent: http.Agent): http.ClientRequest {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { Accept: opts.accept ?? "application/json" };
    for (const [k, v] of Object.entries(this.baseOptions.headers ?? {})) {
      if (typeof v === "string") headers[k] = v;
    }
    if (opts.body !== undefined) {
      headers["Content-Type"] = opts.contentType ?? "application/json";
      // An explicit length: Go's server rejects some chunked request bodies (e.g. on DELETE).
      headers["Content-Length"] = String(Buffer.byteLength(encodeBody(opts.body)));
    }
    const mod = url.protocol === "https:" ? https : http;
    return mod.request(url, { method, headers, agent, signal: opts.signal });
  }

  private notify(method: string, code: number): void {
    for (const o of this.observers) o(method, code, this.server.host);
  }

  /** One request; JSON in, JSON out; a non-2xx answer throws ApiError. */
  request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = this.open(method, path, opts, this.agent);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const code = res.statusCode ?? 0;
          this.notify(method, code);
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = { message: text };
          }
          if (code >= 200 && code < 300) resolve(parsed as T);
          else reject(new ApiError(code, (parsed ?? {}) as StatusBody, `${method} ${path}`));
        });
      });
      req.on("error", (err) => {
        this.notify(method, 0);
        reject(err);
      });
      if (opts.body !== undefined) {
        req.end(encodeBody(opts.body));
      } else {
        req.end();
      }
    });
  }

  /**
   * One GET whose answer is text (a pod's log); with `onData`, each chunk as it comes (a log
   * followed until the server ends it, or `signal` aborts). A non-2xx answer throws ApiError.
   */
  getText(
    path: string,
    query: RequestOptions["query"] = {},
    opts: { onData?: (text: string) => void; signal?: AbortSignal } = {},
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const agent = opts.onData ? this.watchAgent : this.agent;
      const req = this.open("GET", path, { query, accept: "*/*", signal: opts.signal }, agent);
      req.on("response", (res) => {
        const code = res.statusCode ?? 0;
        const ok = code >= 200 && code < 300;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => {
          if (ok && opts.onData) opts.onData(c.toString("utf8"));
          else chunks.push(c);
        });
        res.on("error", reject);
        res.on("end", () => {
          this.notify("GET", code);
          const text = Buffer.concat(chunks).toString("utf8");
          if (ok) return resolve(text);
          let body: StatusBody;
          try {
            body = JSON.parse(text) as StatusBody;
          } catch {
            body = { message: text } as StatusBody;
          }
          reject(new ApiError(code, body, `GET ${path}`));
        });
      });
      req.on("error", (err) => {
        this.notify("GET", 0);
        reject(err);
      });
      req.end();
    });
  }

  get<T extends KubeObject>(rt: ResourceType, name: string, namespace?: string): Promise<T> {
    return this.request<T>("GET", objectPath(rt, name, namespace));
  }

  /** Lists every page; the returned resourceVersion is the list's (for starting a watch). */
  async list<T extends KubeObject>(rt: ResourceType, opts: ListOptions = {}): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.request<KubeList<T>>("GET", collectionPath(rt, opts.namespace), {
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: opts.limit,
          continue: cont,
          resourceVersion: cont ? undefined : opts.resourceVersion,
        },
        signal: opts.signal,
      });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont);
    const kind = rt.kind;
    for (const item of items) {
      // Items in a list carry no apiVersion/kind; fill them so cached objects are self-describing.
      item.apiVersion ??= apiVersionOf(rt);
      item.kind ??= kind;
    }
    return { metadata: { resourceVersion }, items };
  }

  create<T extends KubeObject>(rt: ResourceType, obj: T, opts: { dryRun?: boolean } = {}): Promise<T> {
    return this.request<T>("POST", collectionPath(rt, obj.metadata.namespace), {
      body: { apiVersion: apiVersionOf(rt), kind: rt.kind, ...obj },
      query: { fieldManager: FIELD_MANAGER, dryRun: opts.dryRun ? "All" : undefined },
    });
  }

  /** PUT: optimistic concurrency on metadata.resourceVersion (409 Conflict when stale). */
  replace<T extends KubeObject>(rt: ResourceType, obj: T, subresource?: string): Promise<T> {
    const { name, namespace } = obj.metadata;
    if (!name) throw new Error(`replace ${rt.kind}: metadata.name is required`);
    return this.request<T>("PUT", objectPath(rt, name, namespace, subresource), {
      body: { apiVersion: apiVersionOf(rt), kind: rt.kind, ...obj },
      query: { fieldManager: FIELD_MANAGER },
    });
  }

  patch<T extends KubeObject>(
    rt: ResourceType,
    name: string,
    namespace: string | undefined,
    type: PatchType,
    patch: unknown,
    opts: { subresource?: string; force?: boolean; fieldManager?: string; dryRun?: boolean } = {},
  ): Promise<T> {
    return this.request<T>("PATCH", objectPath(rt, name, namespace, opts.subresource), {
      body: patch,
      contentType: patchContentType[type],
      query: {
        fieldManager: opts.fieldManager ?? FIELD_MANAGER,
        force: type === "apply" ? (opts.force ?? true) : undefined,
        dryRun: opts.dryRun ? "All" : undefined,
      },
    });
  }

  /** Deletes; answers false when it was already gone. Background propagation by default. */
  async delete(
    rt: ResourceType,
    name: string,
    namespace?: string,
    opts: { propagationPolicy?: "Background" | "Foreground" | "Orphan"; preconditionUid?: string } = {},
  ): Promise<boolean> {
    try {
      await this.request("DELETE", objectPath(rt, name, namespace), {
        body: {
          kind: "DeleteOptions",
          apiVersion: "v1",
          propagationPolicy: opts.propagationPolicy ?? "Background",
          ...(opts.preconditionUid ? { preconditions: { uid: opts.preconditionUid } } : {}),
        },
      });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return false;
      throw err;
    }
  }

  /**
   * A watch stream. Yields events until the server ends the stream (timeoutSeconds), the
   * signal aborts, or the connection breaks (then it throws). An ERROR event is turned into
   * an ApiError (410 Gone included) so callers handle one error path.
   */
  async *watch<T extends KubeObject>(
    rt: ResourceType,
    opts: WatchOptions = {},
  ): AsyncGenerator<WatchEvent<T>> {
    const req = this.open(
      "GET",
      collectionPath(rt, opts.namespace),
      {
        query: {
          watch: 1,
          resourceVersion: opts.resourceVersion,
          timeoutSeconds: opts.timeoutSeconds,
          allowWatchBookmarks: opts.allowWatchBookmarks ?? true,
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
        },
        signal: opts.signal,
      },
      this.watchAgent,
    );
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.on("response", resolve);
      req.on("error", reject);
      req.end();
    });
    const code = res.statusCode ?? 0;
    this.notify("WATCH", code);
    if (code < 200 || code >= 300) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      let status: StatusBody = {};
      try {
        status = JSON.parse(Buffer.concat(chunks).toString("utf8")) as StatusBody;
      } catch {
        status = { message: Buffer.concat(chunks).toString("utf8") };
      }
      throw new ApiError(code, status, `WATCH ${rt.plural}`);
    }
    let buffered = "";
    try {
      for await (const chunk of res) {
        buffered += (chunk as Buffer).toString("utf8");
        let nl = buffered.indexOf("\n");
        while (nl >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf("\n");
          if (!line) continue;
          const event = JSON.parse(line) as WatchEvent<T>;
          if (event.type === "ERROR") {
            const status = event.object as unknown as StatusBody;
            throw new ApiError(status.code ?? 500, status, `WATCH ${rt.plural}`);
          }
          yield event;
        }
      }
    } finally {
      res.destroy();
      req.destroy();
    }
  }
}
