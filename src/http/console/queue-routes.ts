/**
 * The console's queue endpoints: the queue by destination with the depth by state (polled by the
 * page), one destination's messages, one message with its header section, and the actions the
 * queue tools have (hold, release, flush, bounce) on chosen messages or on a whole destination.
 * Actions are queue/control.ts's own operations, so they behave exactly as `sluice queue ...`;
 * each is logged with the key id of the session that asked for it.
 */
import { z } from 'zod';
import type { Logger } from '../../log.js';
import { type QueueControl, QueueControlError } from '../../queue/control.js';
import { type DeliveryView, destinations } from '../../queue/destinations.js';
import { readHeaderSection } from '../../queue/headers.js';
import type { QueueManager } from '../../queue/manager.js';
import type { Spool } from '../../queue/spool.js';
import { ApiError, invalidValue, notFound } from '../api/errors.js';
import { consoleRoute } from './route.js';
import type { MessageView, QueueActionResult, QueueMessagesView, QueueView } from './shapes.js';

export interface QueueRouteDeps {
  queue: QueueManager;
  control: QueueControl;
  spool: Spool;
  delivery: DeliveryView;
  log: Logger;
}

export const MESSAGE_ID = z.string().regex(/^[0-9a-f]{20}$/, 'a queue id is 20 hexadecimal characters');
const DOMAIN = z
  .string()
  .regex(/^[a-z0-9.[\]:-]{1,255}$/i, 'not a domain')
  .transform((d) => d.toLowerCase());

const actionBody = z
  .strictObject({
    operation: z.enum(['hold', 'release', 'flush', 'bounce']),
    ids: z.array(MESSAGE_ID).min(1).max(10_000).optional(),
    domain: DOMAIN.optional(),
  })
  .refine((b) => (b.ids === undefined) !== (b.domain === undefined), {
    message: 'give ids or domain, one of them',
    path: ['ids'],
  });

export function queueRoutes(deps: QueueRouteDeps) {
  const { control } = deps;
  return [
    consoleRoute({
      method: 'GET',
      url: '/queue',
      access: 'view',
      handler: async (): Promise<QueueView> => {
        const { destinations: rows, total } = destinations(deps.queue, deps.delivery);
        return { generated_at: new Date().toISOString(), depth: control.depth(), destinations: rows, total };
      },
    }),
    consoleRoute({
      method: 'GET',
      url: '/queue/messages',
      access: 'view',
      query: z.strictObject({
        domain: DOMAIN.optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(200),
      }),
      handler: async ({ query }): Promise<QueueMessagesView> =>
        await control.list({ domain: query.domain, limit: query.limit }),
    }),
    consoleRoute({
      method: 'GET',
      url: '/queue/messages/:id',
      access: 'view',
      params: z.strictObject({ id: MESSAGE_ID }),
      handler: async ({ params }): Promise<MessageView> => {
        const message = await control.show(params.id).catch(notQueued);
        return { message, headers: await readHeaderSection(deps.spool, params.id) };
      },
    }),
    consoleRoute({
      method: 'POST',
      url: '/queue/actions',
      access: 'manage',
      body: actionBody,
      handler: async ({ body, session }): Promise<QueueActionResult> => {
        const result = await act(control, body);
        deps.log.info(
          {
            console_key_id: session.keyId,
            operation: body.operation,
            domain: body.domain,
            ids: body.ids?.slice(0, 100),
            done: result.done,
            failed: result.failed.length,
          },
          `console: queue ${body.operation} by key ${session.keyId}`,
        );
        return result;
      },
    }),
  ];
}

type Action = z.output<typeof actionBody>;

async function act(control: QueueControl, body: Action): Promise<QueueActionResult> {
  const { operation } = body;
  if (operation === 'flush') {
    if (body.domain) return { operation, done: await control.flush({ domain: body.domain }), failed: [] };
    let jobs = 0;
    const outcome = await control.each(body.ids!, async (id) => {
      jobs += await control.flush({ id });
    });
    return { operation, done: jobs, failed: outcome.failed };
  }
  const ids = body.domain ? control.select(operation, { domain: body.domain }) : body.ids!;
  if (ids.length === 0) throw invalidValue('domain', 'no queued message has a recipient there');
  const outcome = await control.each(ids, (id) => control[operation](id));
  return { operation, done: outcome.done.length, failed: outcome.failed };
}

function notQueued(error: unknown): never {
  if (error instanceof QueueControlError && error.code === 'not-found') throw notFound(error.message);
  if (error instanceof QueueControlError) throw new ApiError(409, { message: error.message });
  throw error;
}
