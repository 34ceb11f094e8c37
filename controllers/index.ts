// Every pillar's controllers, as the manager and the CLI see them. A pillar adds one entry.

import type { CRDSpec } from "../pkg/kube/crd.ts";
import { aiModule } from "./ai/index.ts";
import { computeModule } from "./compute/index.ts";
import { edgeModule } from "./edge/index.ts";
import type { ControllerModule } from "./module.ts";
import { networkModule } from "./network/index.ts";
import { tenancyModule } from "./tenancy/index.ts";

export const controllerModules: ControllerModule[] = [
  tenancyModule,
  computeModule,
  networkModule,
  edgeModule,
  aiModule,
];

export function allCRDs(): CRDSpec[] {
  return controllerModules.flatMap((m) => m.crds);
}

export function selectModules(names: string | undefined): ControllerModule[] {
  if (!names || names === "*" || names === "all") return controllerModules;
  const wanted = names.split(",").map((s) => s.trim());
  const unknown = wanted.filter((w) => !controllerModules.some((m) => m.name === w));
  if (unknown.length) {
    throw new Error(
      `unknown controllers: ${unknown.join(", ")}; known: ${controllerModules.map((m) => m.name).join(", ") || "(none yet)"}`,
    );
  }
  return controllerModules.filter((m) => wanted.includes(m.name));
}
