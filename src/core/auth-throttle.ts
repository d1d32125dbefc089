/**
 * Slows repeated authentication failures per client address: the first failure waits `baseMs`,
 * each further one doubles it, up to `maxMs`. A success or a quiet period forgets the address.
 * Bounded in memory: the oldest addresses are dropped past `maxEntries`.
 */
export class AuthThrottle {
  private readonly failures = new Map<string, { count: number; last: number }>();

  constructor(
    private readonly baseMs: number,
    private readonly maxMs = 30_000,
    private readonly forgetAfterMs = 15 * 60_000,
    private readonly maxEntries = 100_000,
  ) {}

  /** Records a failure and returns how long to wait before answering it. */
  failed(ip: string, now = Date.now()): number {
    const previous = this.failures.get(ip);
    const count = previous && now - previous.last < this.forgetAfterMs ? previous.count + 1 : 1;
    this.failures.delete(ip);
    this.failures.set(ip, { count, last: now });
    if (this.failures.size > this.maxEntries) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    return Math.min(this.maxMs, this.baseMs * 2 ** (count - 1));
  }

  succeeded(ip: string): void {
    this.failures.delete(ip);
  }
}
