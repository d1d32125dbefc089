/**
 * Group commit for the milter's injection events, with the durability of a single append: the
 * events of every EOM handled in one turn of the event loop are written together (one
 * EventStore.appendMany: one SQLite transaction, one events.jsonl write) on the next
 * setImmediate, and each record() resolves only once that write has returned. The filter awaits
 * it before answering EOM, so the MTA still queues a message only after its events are stored
 * (a crash at any point loses no event of an accepted message); what is shared is the commit.
 * A failed write rejects every record() of that batch: each of those messages tempfails, as one
 * failed append did before. With 20 MTA connections, several EOMs arrive in one poll of the loop.
 */
import type { SluiceEvent } from '../core/events.js';
import type { EventStore } from '../store/types.js';

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export class EventBatch {
  private pending: SluiceEvent[] = [];
  private waiters: Waiter[] = [];
  private scheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly events: Pick<EventStore, 'appendMany'>,
    private readonly maxBatch = 500,
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
