// Finds (and, on first use, builds) the pinned control-plane binaries via hack/build-binaries.sh.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const script = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "hack", "build-binaries.sh");

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
