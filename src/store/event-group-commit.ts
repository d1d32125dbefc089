/**
 * Group commit for events whose writer must know they are durable, with the durability of a
 * single append: everything recorded in one turn of the event loop is written together (one
 * EventStore.appendMany: one SQLite transaction, one events.jsonl write) on the next setImmediate,
 * or at once when `maxBatch` events wait, and each record() resolves only once that write has
 * returned. Callers await it before acting on the events being stored: a door before its 250, the
 * milter before answering EOM, the queue before it marks recipients final in the spool. Batches
 * are written in the order record() was called, so a message's injection is never stored after
 * its delivery. A failed write rejects every record() of that batch (each caller answers as one
 * failed append did); the next batch is written again.
 */
import type { SluiceEvent } from '../core/events.js';
import type { EventStore } from '../store/types.js';

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export class EventGroupCommit {
  private pending: SluiceEvent[] = [];
  private waiters: Waiter[] = [];
  private scheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly events: Pick<EventStore, 'appendMany'>,
    private readonly maxBatch = Number.POSITIVE_INFINITY,
  ) {}

  /** Resolves once `events` are durable in the store (with whatever else was recorded this turn). */
  record(events: readonly SluiceEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pending.push(...events);
      this.waiters.push({ resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Writes what is queued now (also called when the service stops). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    const batch = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    if (batch.length === 0) return;
    try {
      this.events.appendMany(batch);
    } catch (error) {
      for (const waiter of waiters) waiter.reject(error);
      return;
    }
    for (const waiter of waiters) waiter.resolve();
  }
}
