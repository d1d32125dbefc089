/** Records several events through the store's batch write when it has one, else one by one. */
import type { SluiceEvent } from '../core/events.js';
import type { EventStore } from './types.js';

export function appendEvents(store: EventStore, events: SluiceEvent[]): void {
  if (events.length === 0) return;
  if (store.appendMany && events.length > 1) store.appendMany(events);
  else for (const event of events) store.append(event);
}
