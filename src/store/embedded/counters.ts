/**
 * The embedded CounterStore: rate counters in this process's memory (one node, nothing to run).
 *
 * Each counter is a sliding-window counter (two fixed buckets, the previous one weighted by how much
 * of it still overlaps the window): O(1) time and memory per counter, and never under-counts a burst
 * inside one window. Windows start when a counter is first used, not on the epoch, so a fresh
 * counter's first window is a whole window.
 *
 * Memory stays bounded: counters idle for two windows and reservations past their ttl are dropped
 * lazily, a few at a time on every call (both maps are kept in touch order, so the stale ones are at
 * the front), and past `maxCounters` the least recently used counter without holds is forgotten
 * (which can only let a little more through, never block). Counters do not survive a restart.
 */
import type { CounterHold, CounterSpec, CounterStore, ReserveOutcome } from '../types.js';

interface Counter {
  windowMs: number;
  /** Start of the current bucket. */
  start: number;
  current: number;
  previous: number;
  /** Sum of the holds of live reservations on this counter. */
  held: number;
  touched: number;
}

interface Reservation {
  /** Counter key -> amount held. */
  holds: Map<string, number>;
  expiresAt: number;
}

export interface EmbeddedCounterOptions {
  maxCounters?: number;
  clock?: () => number;
}

/** How many stale entries one call may drop: keeps every call O(1) while memory still drains. */
const SWEEP_PER_CALL = 4;

export class EmbeddedCounterStore implements CounterStore {
  private readonly counters = new Map<string, Counter>();
  private readonly reservations = new Map<string, Reservation>();
  private readonly maxCounters: number;
  private readonly clock: () => number;

  constructor(options: EmbeddedCounterOptions = {}) {
    this.maxCounters = options.maxCounters ?? 1_000_000;
    this.clock = options.clock ?? Date.now;
  }

  async reserve(
    id: string,
    holds: CounterHold[],
    ttlMs: number,
    now = this.clock(),
  ): Promise<ReserveOutcome> {
    this.sweep(now);
    const existing = this.reservations.get(id);
    const wanted: Array<[Counter, string, number]> = [];
    for (const hold of holds) {
      if (hold.oncePerReservation && existing?.holds.has(hold.counter.key)) continue;
      const counter = this.counter(hold.counter, now);
      const used = estimate(counter, now) + counter.held;
      if (used + hold.amount > hold.counter.limit) return { ok: false, counter: hold.counter, used };
      wanted.push([counter, hold.counter.key, hold.amount]);
    }
    const reservation = existing ?? { holds: new Map<string, number>(), expiresAt: 0 };
    for (const [counter, key, amount] of wanted) {
      counter.held += amount;
      reservation.holds.set(key, (reservation.holds.get(key) ?? 0) + amount);
    }
    // Re-inserted so the map stays in expiry order (the ttl is the same for every caller).
    this.reservations.delete(id);
    reservation.expiresAt = now + ttlMs;
    this.reservations.set(id, reservation);
    return { ok: true };
  }

  async commit(id: string, usage: CounterHold[], now = this.clock()): Promise<void> {
    this.sweep(now);
    this.drop(id);
    for (const item of usage) {
      if (item.amount <= 0) continue;
      this.counter(item.counter, now).current += item.amount;
    }
  }

  async release(id: string, now = this.clock()): Promise<void> {
    this.sweep(now);
    this.drop(id);
  }

  async usage(spec: CounterSpec, now = this.clock()): Promise<number> {
    const counter = this.counters.get(spec.key);
    if (!counter) return 0;
    roll(counter, now);
    return estimate(counter, now) + counter.held;
  }

  /** Number of live counters and reservations (tests check that memory drains). */
  size(): { counters: number; reservations: number } {
    return { counters: this.counters.size, reservations: this.reservations.size };
  }

  private counter(spec: CounterSpec, now: number): Counter {
    let counter = this.counters.get(spec.key);
    if (counter) {
      this.counters.delete(spec.key);
      roll(counter, now);
    } else {
      counter = { windowMs: spec.windowMs, start: now, current: 0, previous: 0, held: 0, touched: now };
      this.evictIfFull();
    }
    counter.touched = now;
    this.counters.set(spec.key, counter);
    return counter;
  }

  private drop(id: string): void {
    const reservation = this.reservations.get(id);
    if (!reservation) return;
    this.reservations.delete(id);
    for (const [key, amount] of reservation.holds) {
      const counter = this.counters.get(key);
      if (counter) counter.held = Math.max(0, counter.held - amount);
    }
  }

  private sweep(now: number): void {
    for (let i = 0; i < SWEEP_PER_CALL; i++) {
      const first = this.reservations.entries().next().value;
      if (!first || first[1].expiresAt > now) break;
      this.drop(first[0]);
    }
    for (let i = 0; i < SWEEP_PER_CALL; i++) {
      const first = this.counters.entries().next().value;
      if (!first) break;
      const [key, counter] = first;
      if (counter.held > 0 || now - counter.touched < 2 * counter.windowMs) break;
      this.counters.delete(key);
    }
  }

  private evictIfFull(): void {
    if (this.counters.size < this.maxCounters) return;
    for (const [key, counter] of this.counters) {
      if (counter.held === 0) {
        this.counters.delete(key);
        return;
      }
    }
  }
}

/** Moves the buckets forward to the window that holds `now`. */
function roll(counter: Counter, now: number): void {
  const elapsed = Math.floor((now - counter.start) / counter.windowMs);
  if (elapsed <= 0) return;
  counter.previous = elapsed === 1 ? counter.current : 0;
  counter.current = 0;
  counter.start += elapsed * counter.windowMs;
}

/** Committed usage over the last window: the current bucket plus the overlapping share of the previous. */
function estimate(counter: Counter, now: number): number {
  const overlap = 1 - (now - counter.start) / counter.windowMs;
  return counter.current + counter.previous * Math.max(0, overlap);
}
