/** How the events commands print an event: full JSON for scripts, one readable line for people. */

import { parseDuration } from '../config/duration.js';
import type { SluiceEvent } from '../core/events.js';
import type { EventFilter } from '../store/types.js';
import { list, UsageError } from './command.js';

export function formatEvent(event: SluiceEvent, json: boolean): string {
  if (json) return JSON.stringify(event);
  const detail = [event.raw_reason, event.bounce_class ? `class ${event.bounce_class}` : undefined]
    .filter(Boolean)
    .join(' ');
  return [event.timestamp, event.type.padEnd(16), event.message_id ?? '-', event.rcpt_to ?? '-', detail]
    .join('  ')
    .trimEnd();
}

/** Filters from --type/--recipient/--message-id/--since; --since takes an ISO time or a duration ago ("1h"). */
export function filterFrom(values: Record<string, unknown>): EventFilter {
  const filter: EventFilter = {};
  const types = list(values.type).flatMap((t) => t.split(','));
  if (types.length > 0) filter.types = types;
  if (values.recipient) filter.recipient = String(values.recipient);
  if (values['message-id']) filter.messageId = String(values['message-id']);
  if (values.since) filter.since = sinceToIso(String(values.since));
  return filter;
}

function sinceToIso(value: string): string {
  const ago = parseDuration(value);
  if (ago !== null) return new Date(Date.now() - ago).toISOString();
  const time = Date.parse(value);
  if (Number.isNaN(time))
    throw new UsageError(`--since: expected an ISO time or a duration such as 1h, got "${value}"`);
  return new Date(time).toISOString();
}

export function matches(event: SluiceEvent, filter: EventFilter): boolean {
  if (filter.types && !filter.types.includes(event.type)) return false;
  if (filter.recipient && event.rcpt_to !== filter.recipient.toLowerCase()) return false;
  if (filter.messageId && event.message_id !== filter.messageId) return false;
  if (filter.since && event.timestamp < filter.since) return false;
  return true;
}
