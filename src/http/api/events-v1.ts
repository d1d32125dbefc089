/**
 * GET /api/v1/events/message (grant message_events/view): SparkPost's message events search,
 * newest first, filtered by event types, recipients, message ids, campaigns and a time range,
 * paged with an opaque cursor; `links.next` is the URL of the following page (absent on the last).
 */
import type { EventStore } from '../../store/types.js';
import { invalidValue, withCursor } from './errors.js';
import { type ApiRoute, route } from './route.js';
import { eventsQuery, eventsResponse } from './schemas.js';

export function eventRoutes(events: EventStore): ApiRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/v1/events/message',
      grant: 'message_events/view',
      summary: 'Search message events, newest first, cursor-paged',
      tag: 'Events',
      query: eventsQuery,
      results: eventsResponse.shape.results,
      async handler({ query }) {
        if (query.from && query.to && query.from > query.to)
          throw invalidValue('from', 'must not be after to');
        const page = await withCursor(() =>
          events.page({
            ...(query.events ? { types: query.events } : {}),
            ...(query.recipients ? { recipients: query.recipients } : {}),
            ...(query.message_ids ? { messageIds: query.message_ids } : {}),
            ...(query.campaigns ? { campaigns: query.campaigns } : {}),
            ...(query.from ? { from: query.from } : {}),
            ...(query.to ? { to: query.to } : {}),
            ...(query.cursor ? { cursor: query.cursor } : {}),
            limit: query.per_page,
          }),
        );
        const links: { next?: string } = {};
        if (page.next) links.next = `/api/v1/events/message?${nextQuery(query, page.next)}`;
        return { results: page.events, total_count: page.total, links };
      },
    }),
  ];
}

/** The same filters with the new cursor, so following `next` needs nothing else. */
function nextQuery(query: Record<string, unknown>, cursor: string): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || name === 'cursor') continue;
    params.set(name, Array.isArray(value) ? value.join(',') : String(value));
  }
  params.set('cursor', cursor);
  return params.toString();
}
