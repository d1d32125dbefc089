/**
 * What delivery last learnt about each recipient domain, for the operator console's queue view:
 * the MX host set it was routed to, the last reply (peer's or our own: DNS, connection) and when,
 * and how many attempts in a row ended with every recipient deferred. The Deliverer writes it at
 * each attempt; nothing reads it to decide anything. Bounded: the least recently attempted
 * domains are forgotten past `maxDomains`.
 */
import type { RcptResult, RcptStatus } from './deliver.js';

export interface LastReply {
  status: RcptStatus;
  /** Basic SMTP code, 0 when no peer reply applies (DNS, connection). */
  code: number;
  text: string;
  mx_host: string | null;
  /** ms since the epoch. */
  at: number;
}

export interface DestinationState {
  /** "mx1.example,mx2.example:25" (route.ts's hostSet); null when routing failed. */
  hostSet: string | null;
  lastReply: LastReply | null;
  /** Attempts in a row in which every recipient was deferred. */
  failures: number;
}

export class DestinationStatus {
  private readonly domains = new Map<string, DestinationState>();

  constructor(
    private readonly maxDomains = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(domain: string): DestinationState | undefined {
    return this.domains.get(domain.toLowerCase());
  }

  routed(domain: string, hostSet: string | null): void {
    this.touch(domain).hostSet = hostSet;
  }

  /** One attempt's results: the reply kept is the first deferral or bounce, else the first result. */
  attempted(domain: string, results: readonly RcptResult[]): void {
    if (results.length === 0) return;
    const state = this.touch(domain);
    const shown = results.find((r) => r.status !== 'delivered') ?? results[0]!;
    state.lastReply = {
      status: shown.status,
      code: shown.code,
      text: shown.text,
      mx_host: shown.mxHost ?? null,
      at: this.now(),
    };
    state.failures = results.every((r) => r.status === 'defer') ? state.failures + 1 : 0;
  }

  /** The domain's state, moved to the newest end (the map's order is the eviction order). */
  private touch(domain: string): DestinationState {
    const name = domain.toLowerCase();
    const state = this.domains.get(name) ?? { hostSet: null, lastReply: null, failures: 0 };
    this.domains.delete(name);
    this.domains.set(name, state);
    if (this.domains.size > this.maxDomains) {
      const oldest = this.domains.keys().next().value;
      if (oldest !== undefined) this.domains.delete(oldest);
    }
    return state;
  }
}
