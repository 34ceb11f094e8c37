// What the tenancy benchmarks share: the manager (tenancy + compute) started as its own
// compiled process (test/fixtures/tenancy-manager.ts; compile first with
// `tsc -p tsconfig.build.json`), so its cost is measured apart from the client's, and the
// nearest-rank quantiles they report.

import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export async function startTenancyManager(
  kubeconfig: string,
): Promise<{ child: ChildProcess; metricsPort: number; healthPort: number }> {
  const child = spawn(
    process.execPath,
    ["--max-semi-space-size=4", "dist/test/fixtures/tenancy-manager.js", "--kubeconfig", kubeconfig],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LOG_LEVEL: "error" } },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`manager exited (${code})`)));
  });
  return { child, ...(JSON.parse(line) as { metricsPort: number; healthPort: number }) };
}

/** The nearest-rank q-quantile (NaN for no samples). */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
}

export const median = (xs: readonly number[]) => quantile(xs, 0.5);
