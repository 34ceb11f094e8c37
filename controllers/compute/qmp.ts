// A small client for QEMU's machine protocol (QMP): JSON lines over the launcher's unix
// socket. The launcher uses it to power the guest down through ACPI and to reset it.
//
// Why our own: QMP is a handful of JSON messages; no maintained npm package is worth the
// dependency for powerdown, reset and the events that follow.

import { connect, type Socket } from "node:net";
import { createInterface } from "node:readline";

interface QmpMessage {
  QMP?: unknown;
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
}

export class Qmp {
  private readonly socket: Socket;
  private readonly waiting: Array<(m: QmpMessage) => void> = [];
  private readonly eventListeners: Array<(event: string) => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    // QEMU may end (the guest powered off, or it was killed) with commands in flight: they
    // fail with a message instead of an unhandled socket error ending the launcher.
    const closed = () => {
      for (const w of this.waiting.splice(0))
        w({ error: { class: "Closed", desc: "QEMU closed its QMP socket" } });
    };
    socket.on("error", closed);
    socket.on("close", closed);
    const lines = createInterface({ input: socket });
    lines.on("error", closed);
    lines.on("line", (line) => {
      let msg: QmpMessage;
      try {
        msg = JSON.parse(line) as QmpMessage;
      } catch {
        return;
      }
      if (msg.event) for (const l of this.eventListeners) l(msg.event);
      else if (msg.return !== undefined || msg.error) this.waiting.shift()?.(msg);
    });
  }

  /** Connects (retrying until QEMU has created the socket) and negotiates capabilities. */
  static async open(path: string, timeoutMs = 10_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path, () => resolve(s));
          s.once("error", reject);
        });
        const qmp = new Qmp(socket);
        await qmp.execute("qmp_capabilities");
        return qmp;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`QMP socket ${path} did not answer: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Runs one command; rejects with QEMU's description of an error. */
  execute(command: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push((m) =>
        m.error ? reject(new Error(`QMP ${command}: ${m.error.desc}`)) : resolve(m.return),
      );
      if (this.socket.destroyed || !this.socket.writable) {
        this.waiting.pop();
        reject(new Error(`QMP ${command}: QEMU closed its QMP socket`));
        return;
      }
      this.socket.write(`${JSON.stringify({ execute: command })}\n`);
    });
  }

  onEvent(listener: (event: string) => void): void {
    this.eventListeners.push(listener);
  }

  close(): void {
    this.socket.destroy();
  }
}
