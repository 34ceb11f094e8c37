// VXLAN network identifiers for VPCs (pure). A VNI is 24 bits; 0 is never used (it means
// "no VPC" to a data plane) and neither is 0xFFFFFF (reserved by several VXLAN stacks).

export const MIN_VNI = 1;
export const MAX_VNI = 0xfffffe;

export function isValidVNI(v: number): boolean {
  return Number.isInteger(v) && v >= MIN_VNI && v <= MAX_VNI;
}

/** FNV-1a: a stable starting point, so a VPC tends to get the same VNI in every cluster. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export type VNIChoice = { vni: number } | { conflict: string };

/**
 * The VNI for a VPC, given the VNIs already held by other VPCs (value → holder name).
 * A requested VNI is granted when free and refused (conflict) otherwise; without a request
 * the search starts at a hash of the name and probes forward until a free value is found.
 */
export function chooseVNI(name: string, used: ReadonlyMap<number, string>, requested?: number): VNIChoice {
  if (requested !== undefined) {
    if (!isValidVNI(requested)) return { conflict: `VNI ${requested} is outside ${MIN_VNI}..${MAX_VNI}` };
    const holder = used.get(requested);
    if (holder !== undefined && holder !== name)
      return { conflict: `VNI ${requested} is already used by VPC ${holder}` };
    return { vni: requested };
  }
  const span = MAX_VNI - MIN_VNI + 1;
  if (used.size >= span) return { conflict: "every VNI is in use" };
  const start = fnv1a(name) % span;
  for (let i = 0; i < span; i++) {
    const v = MIN_VNI + ((start + i) % span);
    const holder = used.get(v);
    if (holder === undefined || holder === name) return { vni: v };
  }
  return { conflict: "every VNI is in use" };
}
