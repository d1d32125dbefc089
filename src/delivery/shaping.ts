/**
 * Traffic shaping: budgets of concurrent deliveries and of messages started per minute, one per
 * recipient domain and one per MX host set (so the many domains one provider hosts share one
 * budget). A delivery takes a permit from both of its budgets before it may use a connection and
 * gives it back when done; callers wait in FIFO order. The limits of a budget come from the
 * defaults narrowed by the `destinations` overrides: a recipient domain matches `domain` or
 * `.parent`; a host set matches an override naming one of its hosts (or `.parent` of one).
 */
import type { TlsPolicy } from './pool.js';

export interface Limits {
  maxConnections: number;
  maxMessagesPerConnection: number;
  /** Messages started in any 60 s window; null: no limit. */
  maxPerMinute: number | null;
  /** Set only by an override; undefined keeps the connection pool's default policy. */
  tls?: TlsPolicy | undefined;
}

export interface Override {
  max_connections?: number | undefined;
  max_messages_per_connection?: number | undefined;
  max_messages_per_minute?: number | undefined;
  tls?: TlsPolicy | undefined;
}

const WINDOW_MS = 60_000;

export class ShapingPolicy {
  constructor(
    readonly defaults: Limits,
    private readonly overrides: Record<string, Override> = {},
  ) {}

  forDomain(domain: string): Limits {
    return this.apply(this.match(domain.toLowerCase()));
  }

  /** Limits of a host set, from the first of its hosts (in sorted order) that an override names. */
  forHosts(hosts: string[]): Limits {
    for (const host of [...hosts].sort()) {
      const found = this.match(host.toLowerCase().replace(/\.$/, ''));
      if (found) return this.apply(found);
    }
    return this.defaults;
  }

  private match(name: string): Override | undefined {
    const exact = this.overrides[name];
    if (exact) return exact;
    for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
      const parent = this.overrides[name.slice(dot)];
      if (parent) return parent;
    }
    return undefined;
  }

  private apply(override: Override | undefined): Limits {
    if (!override) return this.defaults;
    const d = this.defaults;
    const tls = override.tls ?? d.tls;
    return {
      maxConnections: override.max_connections ?? d.maxConnections,
      maxMessagesPerConnection: override.max_messages_per_connection ?? d.maxMessagesPerConnection,
      maxPerMinute: override.max_messages_per_minute ?? d.maxPerMinute,
      ...(tls ? { tls } : {}),
    };
  }
}

class Budget {
  inUse = 0;
  /** Start times within the last minute, oldest first. */
  readonly starts: number[] = [];
  readonly waiters: Array<{ start: () => void; fail: (error: Error) => void }> = [];
  timer: NodeJS.Timeout | null = null;

  constructor(public limits: Limits) {}

  /** 0 when a delivery may start now; else ms until a rate slot frees (Infinity: wait for a release). */
  waitMs(now: number): number {
    if (this.inUse >= this.limits.maxConnections) return Number.POSITIVE_INFINITY;
    const rate = this.limits.maxPerMinute;
    while (this.starts.length > 0 && now - this.starts[0]! >= WINDOW_MS) this.starts.shift();
    if (rate === null || this.starts.length < rate) return 0;
    return this.starts[0]! + WINDOW_MS - now;
  }

  /** Nothing to remember: no delivery in progress or waiting, no start inside the rate window. */
  idle(now: number): boolean {
    if (this.inUse > 0 || this.waiters.length > 0 || this.timer) return false;
    return this.starts.length === 0 || now - this.starts[this.starts.length - 1]! >= WINDOW_MS;
  }
}

export interface Permit {
  release(): void;
}

export class Shaper {
  private readonly budgets = new Map<string, Budget>();
  /** The map is swept of idle budgets when it has doubled since the last sweep (amortised O(1)). */
  private sweepAt = 1024;
  private closed = false;

  constructor(private readonly now: () => number = Date.now) {}

  /** Shutdown: waiting deliveries give up (their messages stay queued) and no new ones start. */
  close(): void {
    this.closed = true;
    for (const budget of this.budgets.values()) {
      if (budget.timer) clearTimeout(budget.timer);
      for (const waiter of budget.waiters.splice(0)) waiter.fail(new Error('delivery is shutting down'));
    }
  }

  /** Waits for a start in every named budget, taken in the order given (callers keep one order). */
  async acquire(wanted: Array<{ key: string; limits: Limits }>): Promise<Permit> {
    const taken: Budget[] = [];
    const giveBack = () => {
      for (const budget of taken) {
        budget.inUse--;
        this.wake(budget);
      }
    };
    for (const { key, limits } of wanted) {
      if (this.closed) {
        giveBack();
        throw new Error('delivery is shutting down');
      }
      let budget = this.budgets.get(key);
      if (!budget) {
        // A node sends to many domains over its life; a budget with nothing to remember goes,
        // else the map would grow by every destination ever seen.
        if (this.budgets.size >= this.sweepAt) this.sweep();
        budget = new Budget(limits);
        this.budgets.set(key, budget);
      }
      budget.limits = limits;
      try {
        await this.take(budget);
      } catch (error) {
        giveBack();
        throw error;
      }
      taken.push(budget);
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        giveBack();
      },
    };
  }

  /** Budgets remembered now (for tests and metrics). */
  get size(): number {
    return this.budgets.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, budget] of this.budgets) if (budget.idle(now)) this.budgets.delete(key);
    this.sweepAt = Math.max(1024, 2 * this.budgets.size);
  }

  /** Deliveries waiting for a start under one budget (the console shows the destination throttled). */
  waiting(key: string): number {
    return this.budgets.get(key)?.waiters.length ?? 0;
  }

  /** Deliveries in progress under one budget (for tests and metrics). */
  inUse(key: string): number {
    return this.budgets.get(key)?.inUse ?? 0;
  }

  private take(budget: Budget): Promise<void> {
    if (budget.waiters.length === 0 && budget.waitMs(this.now()) === 0) {
      this.start(budget);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      budget.waiters.push({
        start: () => {
          this.start(budget);
          resolve();
        },
        fail: reject,
      });
      this.wake(budget);
    });
  }

  private start(budget: Budget): void {
    budget.inUse++;
    if (budget.limits.maxPerMinute !== null) budget.starts.push(this.now());
  }

  /** Lets waiters in while the budget allows; arms a timer for the next free rate slot. */
  private wake(budget: Budget): void {
    while (budget.waiters.length > 0 && !this.closed) {
      const wait = budget.waitMs(this.now());
      if (wait === 0) {
        budget.waiters.shift()!.start();
        continue;
      }
      if (Number.isFinite(wait) && !budget.timer) {
        budget.timer = setTimeout(() => {
          budget.timer = null;
          this.wake(budget);
        }, wait);
        budget.timer.unref();
      }
      return;
    }
  }
}
