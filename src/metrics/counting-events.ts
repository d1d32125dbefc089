/** An EventStore that also counts each appended event in the metrics; everything else is the store's. */
import type { SluiceEvent } from '../core/events.js';
import type { EventFilter, EventStore } from '../store/types.js';
import type { SluiceMetrics } from './metrics.js';

export class CountingEventStore implements EventStore {
  constructor(
    private readonly store: EventStore,
    private readonly metrics: SluiceMetrics,
  ) {}

  append(event: SluiceEvent): void {
    this.store.append(event);
    this.metrics.count(event);
  }

  search(filter: EventFilter): Promise<SluiceEvent[]> {
    return this.store.search(filter);
  }
}
