// IPv4 address arithmetic and the per-subnet address pool (pure, no I/O).
//
// The pool is never the source of truth: the controller rebuilds it from the IPAddress claim
// objects the API server holds (one per allocated address) and only uses it to pick a
// candidate; creating the claim is what actually takes the address, so two writers that pick
// the same candidate cannot both win.

export interface CIDR {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
  /** Number of addresses in the block (2^(32-prefix)). */
  size: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIP(s: string): number {
  const m = IPV4.exec(s.trim());
  if (!m) throw new Error(`"${s}" is not an IPv4 address`);
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? "";
    const octet = Number(part);
    if (octet > 255 || (part.length > 1 && part.startsWith("0")))
      throw new Error(`"${s}" is not an IPv4 address`);
    n = n * 256 + octet;
  }
  return n;
}

export function isIP(s: string): boolean {
  try {
    parseIP(s);
    return true;
  } catch {
    return false;
  }
}

export function formatIP(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Parses "a.b.c.d/p"; the host bits must be zero (a canonical network address). */
export function parseCIDR(s: string): CIDR {
  const slash = s.indexOf("/");
  if (slash < 0) throw new Error(`"${s}" is not a CIDR (expected a.b.c.d/prefix)`);
  const ip = parseIP(s.slice(0, slash));
  const prefixText = s.slice(slash + 1);
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) throw new Error(`"${s}": bad prefix length`);
  const prefix = Number(prefixText);
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0)
    throw new Error(`"${s}" has host bits set (network address is ${formatIP(ip - (ip % size))})`);
  return { base: ip, prefix, size };
}

/**
 * An IPv4 CIDR as NetworkPolicy reads it: host bits are ignored ("192.168.1.5/24" is
 * 192.168.1.0/24, as upstream implementations read it). Undefined for IPv6 or malformed
 * text, which match no IPv4 address.
 */
export function lenientIPv4CIDR(s: string): CIDR | undefined {
  const slash = s.indexOf("/");
  if (slash < 0 || s.includes(":")) return undefined;
  const prefixText = s.slice(slash + 1);
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) return undefined;
  let ip: number;
  try {
    ip = parseIP(s.slice(0, slash));
  } catch {
    return undefined;
  }
  const prefix = Number(prefixText);
  const size = 2 ** (32 - prefix);
  return { base: ip - (ip % size), prefix, size };
}

export function isCIDR(s: string): boolean {
  try {
    parseCIDR(s);
    return true;
  } catch {
    return false;
  }
}

export function formatCIDR(c: CIDR): string {
  return `${formatIP(c.base)}/${c.prefix}`;
}

export function cidrContainsIP(c: CIDR, ip: number): boolean {
  return ip >= c.base && ip < c.base + c.size;
}

/** True when `inner` lies wholly inside `outer`. */
export function cidrContains(outer: CIDR, inner: CIDR): boolean {
  return inner.base >= outer.base && inner.base + inner.size <= outer.base + outer.size;
}

export function cidrsOverlap(a: CIDR, b: CIDR): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

/** The first usable host address: the default gateway of a subnet. */
export function defaultGateway(c: CIDR): number {
  return c.size <= 2 ? c.base : c.base + 1;
}

/**
 * Parses one excluded-address entry: an IP, a CIDR, or an inclusive range "a.b.c.d..e.f.g.h".
 * Returns [first, last].
 */
export function parseExclusion(s: string): [number, number] {
  if (s.includes("..")) {
    const [a = "", b = ""] = s.split("..");
    const lo = parseIP(a);
    const hi = parseIP(b);
    if (hi < lo) throw new Error(`excluded range "${s}" ends before it starts`);
    return [lo, hi];
  }
  if (s.includes("/")) {
    const c = parseCIDR(s);
    return [c.base, c.base + c.size - 1];
  }
  const ip = parseIP(s);
  return [ip, ip];
}

export interface PoolSpec {
  cidr: string;
  gateway?: string;
  excludeIPs?: string[];
}

/**
 * The addresses of one subnet: which are reserved (network, broadcast, gateway, excluded),
 * which are in use, and a next-fit cursor so that allocation is amortised O(1) however many
 * addresses are taken (a freed address is found again when the cursor wraps round).
 */
export class IPPool {
  readonly cidr: CIDR;
  readonly gateway: number;
  private readonly excluded: Array<[number, number]>;
  private readonly used = new Set<number>();
  private readonly reservedCount: number;
  private cursor: number;

  constructor(spec: PoolSpec) {
    this.cidr = parseCIDR(spec.cidr);
    this.gateway = spec.gateway ? parseIP(spec.gateway) : defaultGateway(this.cidr);
    this.excluded = (spec.excludeIPs ?? []).map(parseExclusion);
    this.reservedCount = this.countReservedByRanges();
    this.cursor = this.cidr.base;
  }

  /** A pool with `usedIPs` already taken (rebuilt from the claims the API server holds). */
  static from(spec: PoolSpec, usedIPs: Iterable<string>): IPPool {
    const pool = new IPPool(spec);
    for (const ip of usedIPs) pool.markUsed(ip);
    return pool;
  }

  private countReservedByRanges(): number {
    const { base, size } = this.cidr;
    const last = base + size - 1;
    const points = new Set<number>();
    if (size > 2) {
      points.add(base);
      points.add(last);
    }
    if (cidrContainsIP(this.cidr, this.gateway)) points.add(this.gateway);
    // Merge the excluded ranges clipped to the subnet, then add the lone points outside them.
    const ranges = this.excluded
      .map(([lo, hi]): [number, number] => [Math.max(lo, base), Math.min(hi, last)])
      .filter(([lo, hi]) => lo <= hi)
      .sort((a, b) => a[0] - b[0]);
    let total = 0;
    let curLo = -1;
    let curHi = -2;
    const merged: Array<[number, number]> = [];
    for (const [lo, hi] of ranges) {
      if (lo > curHi + 1) {
        if (curHi >= curLo && curLo >= 0) merged.push([curLo, curHi]);
        curLo = lo;
        curHi = hi;
      } else curHi = Math.max(curHi, hi);
    }
    if (curLo >= 0 && curHi >= curLo) merged.push([curLo, curHi]);
    for (const [lo, hi] of merged) total += hi - lo + 1;
    for (const p of points) if (!merged.some(([lo, hi]) => p >= lo && p <= hi)) total++;
    return total;
  }

  /** Network, broadcast, gateway or excluded: never handed out. */
  isReserved(ip: number): boolean {
    const { base, size } = this.cidr;
    if (size > 2 && (ip === base || ip === base + size - 1)) return true;
    if (ip === this.gateway) return true;
    for (const [lo, hi] of this.excluded) if (ip >= lo && ip <= hi) return true;
    return false;
  }

  contains(ip: string): boolean {
    return cidrContainsIP(this.cidr, parseIP(ip));
  }

  /** Records an address as taken (idempotent); addresses outside the subnet are ignored. */
  markUsed(ip: string): void {
    const n = parseIP(ip);
    if (cidrContainsIP(this.cidr, n) && !this.isReserved(n)) this.used.add(n);
  }

  release(ip: string): void {
    this.used.delete(parseIP(ip));
  }

  isUsed(ip: string): boolean {
    return this.used.has(parseIP(ip));
  }

  /** Addresses that can ever be handed out. */
  get capacity(): number {
    return this.cidr.size - this.reservedCount;
  }

  get usedCount(): number {
    return this.used.size;
  }

  get available(): number {
    return this.capacity - this.used.size;
  }

  /**
   * A free address (not reserved, not used, not in `skip`), searching forward from the
   * cursor and wrapping once; undefined when the subnet is full. It is not marked used: the
   * caller claims it, then calls markUsed (or adds it to `skip` and asks again if the claim
   * lost a race).
   */
  next(skip?: ReadonlySet<string>): string | undefined {
    const { base, size } = this.cidr;
    if (this.used.size >= this.capacity) return undefined;
    for (let i = 0; i < size; i++) {
      const ip = base + ((this.cursor - base + i) % size);
      if (this.used.has(ip) || this.isReserved(ip)) continue;
      const text = formatIP(ip);
      if (skip?.has(text)) continue;
      this.cursor = base + ((ip - base + 1) % size);
      return text;
    }
    return undefined;
  }

  /** Takes the next free address at once (for callers that are the only writer). */
  allocate(skip?: ReadonlySet<string>): string | undefined {
    const ip = this.next(skip);
    if (ip !== undefined) this.markUsed(ip);
    return ip;
  }
}

/** A locally administered unicast MAC derived from the IP, as Mizar does (stable, unique per IP). */
export function macFor(ip: string): string {
  const n = parseIP(ip);
  const bytes = [0x02, 0x00, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
