/**
 * The console's suppression list, API keys and webhooks. Every change goes through the same core
 * functions as the HTTP API and the CLI (core/suppressions-admin.ts, KeyService), and is logged
 * with the key id of the session that made it. A new key's secret is in the creation answer only.
 * Webhooks are read-only here: their definition, the batches stored for them and not yet
 * accepted (backlog, from the store) and this process's last attempt and failures in a row.
 */
import { z } from 'zod';
import { GRANTS } from '../../core/grants.js';
import type { KeyService } from '../../core/keys.js';
import {
  addSuppressions,
  listSuppressions,
  removeSuppression,
  suppressionInputs,
} from '../../core/suppressions-admin.js';
import type { Logger } from '../../log.js';
import type { ApiKeyRecord, SuppressionStore, WebhookStore } from '../../store/types.js';
import type { WebhookDispatcher } from '../../webhooks/dispatcher.js';
import { invalidValue, notFound, withCursor } from '../api/errors.js';
import { createKeyBody, keyIdParams, recipientParams, suppressionType } from '../api/schemas.js';
import { consoleRoute } from './route.js';
import type { CreatedKeyView, KeysView, KeyView, SuppressionsView, WebhooksView } from './shapes.js';

export interface ListRouteDeps {
  keys: KeyService;
  suppressions: SuppressionStore;
  webhooks: WebhookStore;
  /** null: this process does not deliver webhooks (no attempts to show). */
  dispatcher: WebhookDispatcher | null;
  log: Logger;
}

const PAGE = 50;

function keyView(record: ApiKeyRecord): KeyView {
  return {
    id: record.id,
    label: record.label,
    grants: record.grants,
    prefix: record.prefix,
    valid_ips: record.valid_ips,
    created_at: record.created_at,
    last_used_at: record.last_used_at,
  };
}

export function listRoutes(deps: ListRouteDeps) {
  const { log } = deps;
  return [
    consoleRoute({
      method: 'GET',
      url: '/suppressions',
      access: 'view',
      query: z.strictObject({
        search: z.string().trim().max(320).optional(),
        cursor: z.string().max(1000).optional(),
      }),
      handler: async ({ query }): Promise<SuppressionsView> => {
        const page = await withCursor(() =>
          listSuppressions(deps.suppressions, {
            ...(query.search ? { search: query.search.toLowerCase() } : {}),
            ...(query.cursor ? { cursor: query.cursor } : {}),
            limit: PAGE,
          }),
        );
        return { results: page.records, next: page.next };
      },
    }),
    consoleRoute({
      method: 'POST',
      url: '/suppressions',
      access: 'manage',
      body: z.strictObject({
        recipient: recipientParams.shape.recipient,
        type: suppressionType.optional(),
        description: z.string().max(1024).optional(),
      }),
      handler: async ({ body, session }) => {
        const entries = suppressionInputs([body.recipient], body.type, body.description);
        await addSuppressions(deps.suppressions, entries);
        log.info(
          {
            console_key_id: session.keyId,
            recipient: entries[0]!.recipient,
            types: entries.map((e) => e.type),
          },
          `console: suppression added by key ${session.keyId}`,
        );
        return { added: entries.length };
      },
    }),
    consoleRoute({
      method: 'DELETE',
      url: '/suppressions/:recipient',
      access: 'manage',
      params: recipientParams,
      query: z.strictObject({ type: suppressionType.optional() }),
      handler: async ({ params, query, session }) => {
        const removed = await removeSuppression(deps.suppressions, params.recipient, query.type);
        if (removed === 0) throw notFound(`${params.recipient} is not on the suppression list`);
        log.info(
          { console_key_id: session.keyId, recipient: params.recipient.toLowerCase(), removed },
          `console: suppression removed by key ${session.keyId}`,
        );
        return { removed };
      },
    }),
    consoleRoute({
      method: 'GET',
      url: '/keys',
      access: 'view',
      handler: async (): Promise<KeysView> => ({
        keys: (await deps.keys.list()).map(keyView),
        grants: [...GRANTS],
      }),
    }),
    consoleRoute({
      method: 'POST',
      url: '/keys',
      access: 'manage',
      body: createKeyBody.pick({ label: true, grants: true, valid_ips: true }),
      handler: async ({ body, session }): Promise<CreatedKeyView> => {
        let created: Awaited<ReturnType<KeyService['create']>>;
        try {
          created = await deps.keys.create(body);
        } catch (error) {
          throw invalidValue('body', (error as Error).message);
        }
        log.info(
          { console_key_id: session.keyId, key_id: created.record.id, grants: created.record.grants },
          `console: API key created by key ${session.keyId}`,
        );
        return { key: keyView(created.record), secret: created.secret };
      },
    }),
    consoleRoute({
      method: 'DELETE',
      url: '/keys/:id',
      access: 'manage',
      params: keyIdParams,
      handler: async ({ params, session }) => {
        if (!(await deps.keys.delete(params.id))) throw notFound(`no API key ${params.id}`);
        log.info(
          { console_key_id: session.keyId, key_id: params.id },
          `console: API key revoked by key ${session.keyId}`,
        );
        return undefined;
      },
    }),
    consoleRoute({
      method: 'GET',
      url: '/webhooks',
      access: 'view',
      handler: async (): Promise<WebhooksView> => {
        const webhooks = await deps.webhooks.list();
        return {
          webhooks: await Promise.all(
            webhooks.map(async (webhook) => {
              const attempts = deps.dispatcher?.statusOf(webhook.id) ?? { last_batch: null, failures: 0 };
              return {
                id: webhook.id,
                name: webhook.name,
                target: withoutCredentials(webhook.target),
                events: webhook.events,
                active: webhook.active,
                created: webhook.created,
                backlog: await deps.webhooks.pending(webhook.id),
                last_batch: attempts.last_batch,
                failures: attempts.failures,
              };
            }),
          ),
        };
      },
    }),
  ];
}

/** A target URL with any user:password in it masked: the page shows where batches go, not secrets. */
function withoutCredentials(target: string): string {
  try {
    const url = new URL(target);
    if (!url.username && !url.password) return target;
    url.username = '***';
    url.password = '';
    return url.toString();
  } catch {
    return target;
  }
}
