// Kubernetes resource quantities ("500m", "4Gi", "1.5", "2e3") as exact integers of
// milli-units (pure). BigInt keeps memory in bytes × 1000 exact far beyond any cluster.

const BINARY: Record<string, bigint> = {
  Ki: 1024n,
  Mi: 1024n ** 2n,
  Gi: 1024n ** 3n,
  Ti: 1024n ** 4n,
  Pi: 1024n ** 5n,
  Ei: 1024n ** 6n,
};
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$/;

/** Milli-units of `q`, rounded up (as the API server rounds sub-milli values). Throws on bad input. */
export function parseMilli(q: string | number): bigint {
  const text = String(q).trim();
  const m = QUANTITY.exec(text);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) throw new Error(`not a quantity: "${text}"`);
  const sign = m[1] === "-" ? -1n : 1n;
  const frac = m[3] ?? "";
  // value = digits × 10^-frac.length × multiplier × 1000
  let num = BigInt(`${m[2] || "0"}${frac}`) * 1000n;
  let den = 10n ** BigInt(frac.length);
  const suffix = m[4];
  if (suffix && BINARY[suffix]) num *= BINARY[suffix];
  else {
    const exp = suffix !== undefined ? (DECIMAL[suffix] ?? 0) : m[5] !== undefined ? Number(m[5]) : 0;
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  const whole = num / den;
  return sign * (num % den === 0n ? whole : whole + 1n);
}

/** The canonical text of a milli-unit amount: whole units when exact, else "<n>m". */
export function formatMilli(milli: bigint): string {
  return milli % 1000n === 0n ? String(milli / 1000n) : `${milli}m`;
}

export function isQuantity(q: string): boolean {
  try {
    parseMilli(q);
    return true;
  } catch {
    return false;
  }
}
