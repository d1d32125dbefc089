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
 *
 * The sink may also write elsewhere and answer with a promise (ThreadedEventStore.commit: the
 * queue's events committed by a worker thread); record() then resolves when that promise does.
 * Batches still leave in order, and the sink keeps them in order.
 */
import type { SluiceEvent } from '../core/events.js';

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** Where batches go: a synchronous append, or one that answers once the batch is durable. */
export interface EventSink {
  appendMany(events: readonly SluiceEvent[]): void | Promise<void>;
}

export class EventGroupCommit {
  private pending: SluiceEvent[] = [];
  private waiters: Waiter[] = [];
  private scheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly events: EventSink,
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
    let written: void | Promise<void>;
    try {
      written = this.events.appendMany(batch);
    } catch (error) {
      for (const waiter of waiters) waiter.reject(error);
      return;
    }
    if (!(written instanceof Promise)) {
      for (const waiter of waiters) waiter.resolve();
      return;
    }
    written.then(
      () => {
        for (const waiter of waiters) waiter.resolve();
      },
      (error: unknown) => {
        for (const waiter of waiters) waiter.reject(error);
      },
    );
  }
}
