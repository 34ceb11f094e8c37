// The manager's HTTP endpoints: /metrics for Prometheus, /healthz and /readyz for probes.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface ProbeHandlers {
  healthy(): boolean;
  ready(): boolean;
}

/** "127.0.0.1:8080", ":8080" or "8080" → host and port (":0" picks a free port). */
export function parseAddress(address: string): { host: string; port: number } {
  const m = address.match(/^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):)?(\d{1,5})$/);
  const hostPart = m?.[1] ?? "";
  // "[::1]" → "::1": brackets only delimit an IPv6 address from its port.
  const host = hostPart.startsWith("[") ? hostPart.slice(1, -1) : hostPart || "0.0.0.0";
  const port = Number(m?.[2]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`bad listen address "${address}": expected host:port, e.g. 127.0.0.1:8080 or :8080`);
  }
  return { host, port };
}

export async function listen(address: string, handler: http.RequestListener): Promise<http.Server> {
  const { host, port } = parseAddress(address);
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new Error(
              `cannot listen on ${host}:${port}: the port is taken; pick another with the matching --*-bind-address flag`,
            )
          : err,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

export function boundPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

export function metricsHandler(registry: Registry): http.RequestListener {
  return (req, res) => {
    if (req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404).end("not found: try /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "Content-Type": registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  };
}

export function probeHandler(probes: ProbeHandlers): http.RequestListener {
  return (req, res) => {
    const path = req.url?.split("?")[0];
    const answer = (ok: boolean, what: string) =>
      res.writeHead(ok ? 200 : 503, { "Content-Type": "text/plain" }).end(ok ? "ok\n" : `${what}\n`);
    if (path === "/healthz" || path === "/livez") answer(probes.healthy(), "unhealthy");
    else if (path === "/readyz") answer(probes.ready(), "informer caches have not synced yet");
    else res.writeHead(404).end("not found: try /healthz or /readyz\n");
  };
}
