// A loopback TCP proxy for failure tests: put it between a client and the API server, then
// freeze the connections it carries (a silent watch) or hold new ones (a slow server).
// It forwards bytes unchanged: TLS and the real server's answers pass straight through.

import * as net from "node:net";

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket; frozen: boolean }>();
  private holding = false;
  private held: net.Socket[] = [];
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<string> {
    this.server = net.createServer((client) => {
      if (this.holding) this.held.push(client);
      else this.connect(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return `https://127.0.0.1:${this.port}`;
  }

  private connect(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pair = { client, upstream, frozen: false };
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  }

  /** Connections open now stop carrying bytes in either direction but stay open. */
  freezeExisting(): number {
    let n = 0;
    for (const pair of this.pairs) {
      if (pair.frozen) continue;
      pair.frozen = true;
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.client.pause();
      pair.upstream.pause();
      n++;
    }
    return n;
  }

  /** New connections are accepted but not forwarded until release(). */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const c of this.held) this.connect(c);
    this.held = [];
  }

  async stop(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    for (const c of this.held) c.destroy();
    await new Promise((r) => this.server?.close(r));
  }
}
