/**
 * Message trace: the events of a message (by its queue id or its message id: they differ when an
 * upstream Sluice milter named the message), of a recipient, or of a campaign, oldest first, as a
 * timeline (injection, delays with their reasons, delivery or bounce, opens and clicks), with the
 * messages of the query that are still queued here. Read through the event store's paged query,
 * newest first and at most TRACE_LIMIT, so a big campaign cannot make one request read everything.
 */
import { z } from 'zod';
import type { QueueControl } from '../../queue/control.js';
import type { QueueManager } from '../../queue/manager.js';
import type { Spool } from '../../queue/spool.js';
import type { EventPageFilter, EventStore } from '../../store/types.js';
import { withCursor } from '../api/errors.js';
import { MESSAGE_ID } from './queue-routes.js';
import { consoleRoute } from './route.js';
import type { QueuedMessageView, TraceView } from './shapes.js';

export interface TraceRouteDeps {
  events: EventStore;
  queue: QueueManager;
  control: QueueControl;
  spool: Spool;
}

export const TRACE_LIMIT = 1000;

const traceQuery = z
  .strictObject({
    message_id: z.string().trim().min(1).max(100).optional(),
    recipient: z.string().trim().toLowerCase().min(3).max(320).optional(),
    campaign: z.string().trim().min(1).max(64).optional(),
  })
  .refine((q) => [q.message_id, q.recipient, q.campaign].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of message_id, recipient, campaign',
    path: ['message_id'],
  });

export function traceRoutes(deps: TraceRouteDeps) {
  return [
    consoleRoute({
      method: 'GET',
      url: '/trace',
      access: 'view',
      query: traceQuery,
      handler: async ({ query }): Promise<TraceView> => {
        const filter: EventPageFilter = { limit: TRACE_LIMIT };
        let queued: QueuedMessageView[] = [];
        if (query.message_id) {
          const ids = new Set([query.message_id]);
          const entry = MESSAGE_ID.safeParse(query.message_id).success
            ? deps.queue.entries.get(query.message_id)
            : undefined;
          if (entry) {
            // Read, not load(): the queue keeps a message's envelope in memory only while it runs.
            const message = entry.message ?? (await deps.spool.read(entry.id).catch(() => null));
            if (message) ids.add(message.envelope.facts.message_id);
            queued = await showAll(deps.control, [entry.id]);
          }
          filter.messageIds = [...ids];
        } else if (query.recipient) filter.recipients = [query.recipient];
        else filter.campaigns = [query.campaign!];
        const page = await withCursor(() => deps.events.page(filter));
        const events = [...page.events].reverse();
        if (query.recipient || (query.message_id && queued.length === 0)) {
          const spoolIds = new Set(events.map((e) => e.message_id).filter((id) => id !== undefined));
          queued = await showAll(
            deps.control,
            [...spoolIds].filter((id) => deps.queue.entries.has(id)).slice(0, 50),
          );
        }
        return { query, events, truncated: page.next !== null, queued };
      },
    }),
  ];
}

async function showAll(control: QueueControl, ids: string[]): Promise<QueuedMessageView[]> {
  const shown: QueuedMessageView[] = [];
  for (const id of ids) {
    const message = await control.show(id).catch(() => null);
    if (message) shown.push(message);
  }
  return shown;
}
