/**
 * Group commit for the mail events of the engine: injection events of messages accepted by any
 * door and outcome events of delivery attempts, everything recorded in one turn of the event loop,
 * go to the store as one appendMany (one SQLite transaction, one events.jsonl write) instead of a
 * commit per message. record() resolves once its events are stored and rejects if that write
 * failed; callers wait for it before they act on the events being durable (a door before its 250,
 * the queue before it marks recipients final in the spool). Batches are written in the order
 * record() was called, so a message's injection is never stored after its delivery.
 */
import type { SluiceEvent } from '../core/events.js';
import type { EventStore } from '../store/types.js';

export class EventGroupCommit {
  private pending: SluiceEvent[] = [];
  private flushing: Promise<void> | null = null;

  constructor(private readonly events: Pick<EventStore, 'appendMany'>) {}

  record(events: readonly SluiceEvent[]): Promise<void> {
    for (const event of events) this.pending.push(event);
    this.flushing ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const batch = this.pending;
        this.pending = [];
        this.flushing = null;
        try {
          this.events.appendMany(batch);
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
    return this.flushing;
  }
}
