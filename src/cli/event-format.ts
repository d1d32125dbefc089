/**
 * How the events commands read their filters and print an event: full JSON for scripts, one
 * readable line for people. Filters: --type (checked against the types Sluice records),
 * --recipient, --message-id, --campaign, --from (envelope sender), --transmission-id, --since and
 * --until (an ISO time, or a duration ago such as 1h).
 */
import { parseDuration } from '../config/duration.js';
import { EVENT_TYPES, isEventType } from '../core/event-types.js';
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

export function filterFrom(values: Record<string, unknown>): EventFilter {
  const filter: EventFilter = {};
  const types = list(values.type).flatMap((t) => t.split(',').map((s) => s.trim()));
  const unknown = types.filter((t) => !isEventType(t));
  if (unknown.length > 0)
    throw new UsageError(
      `--type: unknown event type${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `"${t}"`).join(', ')}; valid: ${EVENT_TYPES.join(', ')}`,
    );
  if (types.length > 0) filter.types = types;
  if (values.recipient) filter.recipient = String(values.recipient);
  if (values['message-id']) filter.messageId = String(values['message-id']);
  if (values.campaign !== undefined) filter.campaign = String(values.campaign);
  if (values.from !== undefined) filter.sender = String(values.from);
  if (values['transmission-id'] !== undefined) filter.transmissionId = String(values['transmission-id']);
  if (values.since) filter.since = timeToIso(String(values.since), 'since');
  if (values.until) filter.until = timeToIso(String(values.until), 'until');
  if (filter.since && filter.until && filter.since > filter.until)
    throw new UsageError(`--since (${filter.since}) is after --until (${filter.until})`);
  return filter;
}

function timeToIso(value: string, option: string): string {
  const ago = parseDuration(value);
  if (ago !== null) return new Date(Date.now() - ago).toISOString();
  const time = Date.parse(value);
  if (Number.isNaN(time))
    throw new UsageError(`--${option}: expected an ISO time or a duration ago such as 1h, got "${value}"`);
  return new Date(time).toISOString();
}

export function matches(event: SluiceEvent, filter: EventFilter): boolean {
  if (filter.types && !filter.types.includes(event.type)) return false;
  if (filter.recipient && event.rcpt_to !== filter.recipient.toLowerCase()) return false;
  if (filter.messageId && event.message_id !== filter.messageId) return false;
  if (filter.campaign !== undefined && event.campaign_id !== filter.campaign) return false;
  if (
    filter.sender !== undefined &&
    String(event.msg_from ?? '').toLowerCase() !== filter.sender.toLowerCase()
  )
    return false;
  if (filter.transmissionId !== undefined && event.transmission_id !== filter.transmissionId) return false;
  if (filter.since && event.timestamp < filter.since) return false;
  if (filter.until && event.timestamp > filter.until) return false;
  return true;
}

/** What the filters were, for a "no events match" line. */
export function describeFilter(filter: EventFilter): string {
  const parts: string[] = [];
  if (filter.types) parts.push(`type ${filter.types.join(',')}`);
  if (filter.recipient) parts.push(`recipient ${filter.recipient}`);
  if (filter.messageId) parts.push(`message id ${filter.messageId}`);
  if (filter.campaign !== undefined) parts.push(`campaign ${filter.campaign}`);
  if (filter.sender !== undefined) parts.push(`from ${filter.sender}`);
  if (filter.transmissionId !== undefined) parts.push(`transmission id ${filter.transmissionId}`);
  if (filter.since) parts.push(`since ${filter.since}`);
  if (filter.until) parts.push(`until ${filter.until}`);
  return parts.length > 0 ? parts.join(', ') : 'no filter';
}
