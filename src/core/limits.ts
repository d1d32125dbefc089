/**
 * Sending limits: how many messages and recipients one API key, one sender domain and one client
 * address may send per window. Every door asks the same three questions of a transaction:
 *   reserveRecipient  - may this recipient be added? (holds quota; a message is held once)
 *   commit            - the transaction happened, with this many recipients (holds become usage)
 *   release           - the transaction was abandoned (holds are dropped, nothing is counted)
 * so refused or aborted transactions never use quota. Holds nobody commits or releases expire
 * after `reservationTtlMs`. The counting itself is the CounterStore's; this module only decides
 * which counters a transaction touches and with what amounts. No protocol knowledge here.
 */
import type { CounterHold, CounterSpec, CounterStore } from '../store/types.js';

export const LIMIT_SCOPES = ['key', 'sender_domain', 'client_address'] as const;
export type LimitScope = (typeof LIMIT_SCOPES)[number];

export interface LimitRule {
  windowMs: number;
  /** Messages per window; null: not limited. */
  messages: number | null;
  /** Recipients per window; null: not limited. */
  recipients: number | null;
}

export type LimitRules = Record<LimitScope, LimitRule[]>;

/** Who is sending: each present value is limited by the rules of its scope. */
export interface LimitSubject {
  key: string | null;
  senderDomain: string | null;
  clientAddress: string | null;
}

export interface LimitExceeded {
  scope: LimitScope;
  value: string;
  unit: 'messages' | 'recipients';
  limit: number;
  windowMs: number;
}

export type LimitVerdict = { ok: true } | { ok: false; exceeded: LimitExceeded };

interface Counted {
  spec: CounterSpec;
  scope: LimitScope;
  value: string;
  unit: 'messages' | 'recipients';
}

export class Limits {
  private active: boolean;

  constructor(
    private readonly store: CounterStore,
    private rules: LimitRules,
    private readonly reservationTtlMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.active = LIMIT_SCOPES.some((scope) => rules[scope].length > 0);
  }

  /**
   * A reload: the rules counted from now on. A counter's key holds its window and limit, so a
   * changed rule starts a fresh counter; holds taken under the old rules are committed or released
   * as before.
   */
  setRules(rules: LimitRules): void {
    this.rules = rules;
    this.active = LIMIT_SCOPES.some((scope) => rules[scope].length > 0);
  }

  /** Holds one recipient (and, once per transaction, one message) on every counter of the subject. */
  async reserveRecipient(transaction: string, subject: LimitSubject): Promise<LimitVerdict> {
    if (!this.active) return { ok: true };
    const counted = this.counters(subject);
    if (counted.length === 0) return { ok: true };
    const holds: CounterHold[] = counted.map((c) =>
      c.unit === 'messages'
        ? { counter: c.spec, amount: 1, oncePerReservation: true }
        : { counter: c.spec, amount: 1 },
    );
    const outcome = await this.store.reserve(transaction, holds, this.reservationTtlMs, this.clock());
    if (outcome.ok) return { ok: true };
    const hit = counted.find((c) => c.spec.key === outcome.counter.key)!;
    return {
      ok: false,
      exceeded: {
        scope: hit.scope,
        value: hit.value,
        unit: hit.unit,
        limit: hit.spec.limit,
        windowMs: hit.spec.windowMs,
      },
    };
  }

  /** The transaction was accepted with `recipients` recipients: count it, drop its holds. */
  async commit(transaction: string, subject: LimitSubject, recipients: number): Promise<void> {
    if (!this.active) return;
    const usage: CounterHold[] = [];
    if (recipients > 0) {
      for (const c of this.counters(subject))
        usage.push({ counter: c.spec, amount: c.unit === 'messages' ? 1 : recipients });
    }
    await this.store.commit(transaction, usage, this.clock());
  }

  /** The transaction ended without a message: nothing it held is counted. */
  async release(transaction: string): Promise<void> {
    if (!this.active) return;
    await this.store.release(transaction, this.clock());
  }

  private counters(subject: LimitSubject): Counted[] {
    const out: Counted[] = [];
    const add = (scope: LimitScope, value: string | null) => {
      if (!value) return;
      for (const rule of this.rules[scope]) {
        for (const unit of ['messages', 'recipients'] as const) {
          const limit = rule[unit];
          if (limit === null) continue;
          // Window and limit are in the key: changing a rule starts a fresh counter, never a wrong one.
          const key = `${unit}|${scope}|${rule.windowMs}|${limit}|${value}`;
          out.push({ spec: { key, limit, windowMs: rule.windowMs }, scope, value, unit });
        }
      }
    };
    add('key', subject.key);
    add('sender_domain', subject.senderDomain);
    add('client_address', subject.clientAddress);
    return out;
  }
}

/** The domain of an envelope sender, lower-cased; null for the null sender or a bare local part. */
export function senderDomain(sender: string | null): string | null {
  if (!sender) return null;
  const at = sender.lastIndexOf('@');
  if (at < 0 || at === sender.length - 1) return null;
  return sender.slice(at + 1).toLowerCase();
}
