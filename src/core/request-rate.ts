/**
 * Per-key request rate for the HTTP API: at most `limit` requests per fixed window of `windowMs`.
 * One process counts its own requests (an in-memory map, pruned as windows pass); the answer for
 * a refused request carries how long until the window turns, for Retry-After.
 */
export type RateOutcome = { ok: true } | { ok: false; retryAfterMs: number };

export class RequestRate {
  private windows = new Map<string, { start: number; count: number }>();
  private pruned = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  take(subject: string, now = Date.now()): RateOutcome {
    if (this.limit <= 0) return { ok: true };
    this.prune(now);
    let window = this.windows.get(subject);
    if (!window || now - window.start >= this.windowMs) {
      window = { start: now, count: 0 };
      this.windows.set(subject, window);
    }
    if (window.count >= this.limit) return { ok: false, retryAfterMs: window.start + this.windowMs - now };
    window.count++;
    return { ok: true };
  }

  /** Drops finished windows once per window length, so idle keys do not accumulate. */
  private prune(now: number): void {
    if (now - this.pruned < this.windowMs) return;
    this.pruned = now;
    for (const [subject, window] of this.windows)
      if (now - window.start >= this.windowMs) this.windows.delete(subject);
  }
}
