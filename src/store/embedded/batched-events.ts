/**
 * An EventStore in front of the embedded one that writes appends made in the same turn of the
 * event loop together: one SQLite transaction and one events.jsonl write (appendMany) instead of
 * a commit per event. Meant for engagement events, which arrive at HTTP rates (a click is a
 * search plus an append, and the append's commit is most of its cost).
 *
 * Contract, and how it differs from EmbeddedEventStore.append: append() queues and returns; the
 * queue is written on the next setImmediate, or at once when it reaches maxBatch, before a
 * search() whose types could match a queued event, and when flush()/close() are called. A process crash can lose the events
 * of that one turn (milliseconds), never more; a failed write is reported to onError with the
 * number of events lost, since the caller has already answered its client.
 */
import type { SluiceEvent } from '../../core/events.js';
import type { EventFilter, EventPageFilter, EventStore } from '../types.js';

export type BatchTarget = EventStore;

export class BatchedEventStore implements EventStore {
  private pending: SluiceEvent[] = [];
  private scheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly target: BatchTarget,
    private readonly onError: (error: unknown, lost: number) => void,
    private readonly maxBatch = 1_000,
  ) {}

  append(event: SluiceEvent): void {
    this.pending.push(event);
    if (this.pending.length >= this.maxBatch) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  appendMany(events: readonly SluiceEvent[]): void {
    this.pending.push(...events);
    if (this.pending.length >= this.maxBatch) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  /** The API's queries see everything appended before them. */
  async page(filter: EventPageFilter) {
    this.flush();
    return this.target.page(filter);
  }

  async prune(before: string): Promise<number> {
    this.flush();
    return (await this.target.prune?.(before)) ?? 0;
  }

  async search(filter: EventFilter): Promise<SluiceEvent[]> {
    // A click's own lookup is for its injection: queued clicks cannot match, so they stay queued
    // (flushing here would write batches of one).
    const types = filter.types;
    if (!types || types.length === 0 || this.pending.some((e) => types.includes(e.type))) this.flush();
    return this.target.search(filter);
  }

  /** Writes what is queued now. */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    try {
      this.target.appendMany(batch);
    } catch (error) {
      this.onError(error, batch.length);
    }
  }

  close(): void {
    this.flush();
  }
}
