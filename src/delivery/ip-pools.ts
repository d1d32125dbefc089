/**
 * Named pools of local source addresses (SparkPost's `ip_pool`): a message names a pool in
 * X-MSYS-API `options.ip_pool`; each new connection for it binds the next address of that pool
 * in turn. A message without a pool, or naming one not configured, uses the "default" pool; with
 * no default pool the system picks the source address.
 */
export class IpPools {
  private readonly next = new Map<string, number>();

  constructor(private readonly pools: Record<string, string[]> = {}) {}

  /** The pool a message's connections come from: its own if configured, else "default". */
  poolFor(name: string | undefined): string {
    return name && this.pools[name] ? name : 'default';
  }

  /** The source address for the next connection from a pool, or undefined to let the system choose. */
  pick(pool: string): string | undefined {
    const addresses = this.pools[pool];
    if (!addresses || addresses.length === 0) return undefined;
    const at = this.next.get(pool) ?? 0;
    this.next.set(pool, (at + 1) % addresses.length);
    return addresses[at];
  }

  /** Every address of a pool: connections already open from any of them may be reused. */
  addresses(pool: string): string[] {
    return this.pools[pool] ?? [];
  }
}
