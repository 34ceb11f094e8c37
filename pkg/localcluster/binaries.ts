// Finds (and, on first use, builds) the pinned control-plane binaries via hack/build-binaries.sh.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** hack/<name> of the checkout this module is in (run from the sources or from dist/). */
export function hackScript(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "hack", name);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "hack", name);
    dir = parent;
  }
}

const script = hackScript("build-binaries.sh");

/**
 * Returns the folder holding etcd, kube-apiserver, ..., building what is missing (with
 * progress); `extras` names optional binaries to build too (["kubelet"] for real nodes).
 */
export function ensureBinaries(progress: (line: string) => void, extras: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!existsSync(script)) return reject(new Error(`missing ${script}`));
    const child = spawn("bash", [script, ...extras], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      const text = d.toString();
      err += text;
      for (const line of text.split("\n")) if (line.trim()) progress(`  ${line}`);
    });
    child.on("close", (code) => {
      if (code === 0) resolve(out.trim().split("\n").pop() ?? "");
      else
        reject(
          new Error(
            `building the control-plane binaries failed (exit ${code}):\n${err.split("\n").slice(-20).join("\n")}`,
          ),
        );
    });
  });
}
