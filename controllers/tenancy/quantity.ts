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

const BINARY_UNITS: ReadonlyArray<[string, bigint]> = [
  ["Ti", 1024n ** 4n],
  ["Gi", 1024n ** 3n],
  ["Mi", 1024n ** 2n],
  ["Ki", 1024n],
];

/** Bytes (as milli-units) in the largest binary unit it reaches, to one decimal: "1.5Gi", "384Mi". */
function humanBytes(milli: bigint): string {
  const bytes = milli / 1000n;
  for (const [unit, size] of BINARY_UNITS) {
    if (bytes < size) continue;
    const tenths = (bytes * 10n + size / 2n) / size;
    return tenths % 10n === 0n ? `${tenths / 10n}${unit}` : `${tenths / 10n}.${tenths % 10n}${unit}`;
  }
  return String(bytes);
}

/** Whether a quota key counts bytes (memory, storage): shown in Ki/Mi/Gi/Ti, not digits. */
function countsBytes(key: string): boolean {
  return /(^|\.)(memory|storage|ephemeral-storage)$/.test(key) || key.endsWith("gpu-memory");
}

/** An amount of a quota key for people to read: bytes in binary units, others as formatMilli. */
export function humanQuantity(key: string, milli: bigint): string {
  return countsBytes(key) ? humanBytes(milli) : formatMilli(milli);
}

/**
 * "cpu 2/32, memory 4Gi/64Gi, pods 1/40, ip-addresses 3": used/hard per limited key (sorted),
 * then what is only counted, not limited (pure; unparsable amounts are shown as given).
 */
export function usageSummary(used: Record<string, string>, hard: Record<string, string>): string {
  const show = (key: string, q: string | undefined) => {
    if (q === undefined) return "0";
    try {
      return humanQuantity(key, parseMilli(q));
    } catch {
      return q;
    }
  };
  const limited = Object.keys(hard)
    .sort()
    .map((k) => `${k} ${show(k, used[k])}/${show(k, hard[k])}`);
  const counted = Object.keys(used)
    .filter((k) => !(k in hard))
    .sort()
    .map((k) => `${k} ${show(k, used[k])}`);
  return [...limited, ...counted].join(", ");
}
