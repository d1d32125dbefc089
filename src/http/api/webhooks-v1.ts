/**
 * /api/v1/webhooks: create (webhooks/modify; a test batch is POSTed first and the webhook is
 * made only if the target accepts it, as SparkPost does; the signing secret is in this answer
 * only), list and get (webhooks/view), update and delete (webhooks/modify), and
 * POST /webhooks/:id/validate to send a test batch again. Delivery is the dispatcher's.
 *
 * A failed test batch is told to the caller in one of two fixed sentences: the target guard
 * refused where it points, or it "could not be reached or did not answer 2xx" — never the
 * network error, the HTTP status or the answer, which would let a key holder scan ports and
 * hosts through Sluice. The details go to the log.
 */
import { randomBytes } from 'node:crypto';
import { newBatchId, newWebhookSecret, testBatch } from '../../core/webhooks.js';
import type { Logger } from '../../log.js';
import type { WebhookRecord, WebhookStore } from '../../store/types.js';
import type { WebhookDispatcher } from '../../webhooks/dispatcher.js';
import { type PostResult, postBatch } from '../../webhooks/post.js';
import { ApiError, invalidValue, notFound } from './errors.js';
import { type ApiRoute, route } from './route.js';
import { createWebhookBody, updateWebhookBody, webhookIdParams, webhookView } from './schemas.js';

export interface WebhookRouteDeps {
  store: WebhookStore;
  dispatcher: WebhookDispatcher | null;
  timeoutMs: number;
  allowPrivateTargets: boolean;
  log: Logger;
}

export const UNREACHABLE_TARGET = 'the target could not be reached or did not answer 2xx';
export const REFUSED_TARGET =
  "the target is refused: it is, or resolves to, a loopback, private, reserved or special-purpose address or one of this host's own (webhooks.allow_private_targets allows them)";

/** What an API caller may learn of a failed test batch. */
function failureText(result: PostResult): string {
  return result.refused === 'address' ? REFUSED_TARGET : UNREACHABLE_TARGET;
}

function view(record: WebhookRecord) {
  return {
    id: record.id,
    name: record.name,
    target: record.target,
    events: record.events,
    auth_type: record.auth_type,
    active: record.active,
    created: record.created,
    updated: record.updated,
  };
}

export function webhookRoutes(deps: WebhookRouteDeps): ApiRoute[] {
  const base = '/api/v1/webhooks';
  const tag = 'Webhooks';
  const find = async (id: string) => {
    const record = await deps.store.get(id);
    if (!record) throw notFound(`no webhook ${id}`);
    return record;
  };
  const test = async (
    webhook: Pick<WebhookRecord, 'target' | 'auth_type' | 'auth_credentials' | 'secret'>,
    id: string,
  ) => {
    const result = await postBatch(webhook, newBatchId(), testBatch(), deps);
    if (!result.ok)
      deps.log.warn(
        { webhook: id, target: webhook.target, status: result.status, result: result.detail },
        'webhook test batch not accepted',
      );
    return result;
  };
  return [
    route({
      method: 'POST',
      url: base,
      grant: 'webhooks/modify',
      summary: 'Create a webhook (after its target accepted a test batch)',
      tag,
      body: createWebhookBody,
      results: webhookView.pick({ id: true, name: true }).extend({ signing_secret: webhookView.shape.id }),
      async handler({ body }) {
        if (body.auth_type === 'basic' && !body.auth_credentials)
          throw invalidValue('auth_credentials', 'is required with auth_type basic');
        const now = new Date().toISOString();
        const record: WebhookRecord = {
          id: randomBytes(8).toString('hex'),
          name: body.name,
          target: body.target,
          events: body.events ?? [],
          auth_type: body.auth_type,
          auth_credentials: body.auth_type === 'basic' ? body.auth_credentials! : null,
          secret: newWebhookSecret(),
          active: body.active,
          created: now,
          updated: now,
        };
        const result = await test(record, record.id);
        if (!result.ok)
          throw new ApiError(400, {
            message: 'webhook target did not accept the test batch',
            code: '1300',
            description: `target: ${failureText(result)}`,
          });
        await deps.store.insert(record);
        await deps.dispatcher?.reload();
        return { results: { id: record.id, name: record.name, signing_secret: record.secret } };
      },
    }),
    route({
      method: 'GET',
      url: base,
      grant: 'webhooks/view',
      summary: 'List webhooks',
      tag,
      results: webhookView.array(),
      async handler() {
        return { results: (await deps.store.list()).map(view) };
      },
    }),
    route({
      method: 'GET',
      url: `${base}/:id`,
      grant: 'webhooks/view',
      summary: 'Get one webhook',
      tag,
      params: webhookIdParams,
      results: webhookView,
      async handler({ params }) {
        return { results: view(await find(params.id)) };
      },
    }),
    route({
      method: 'PUT',
      url: `${base}/:id`,
      grant: 'webhooks/modify',
      summary: 'Change a webhook',
      tag,
      params: webhookIdParams,
      body: updateWebhookBody,
      results: webhookView,
      async handler({ params, body }) {
        const current = await find(params.id);
        const authType = body.auth_type ?? current.auth_type;
        const credentials = body.auth_credentials ?? current.auth_credentials;
        if (authType === 'basic' && !credentials)
          throw invalidValue('auth_credentials', 'is required with auth_type basic');
        const patch = {
          ...body,
          auth_type: authType,
          auth_credentials: authType === 'basic' ? credentials : null,
        };
        const updated = await deps.store.update(params.id, patch, new Date().toISOString());
        if (!updated) throw notFound(`no webhook ${params.id}`);
        await deps.dispatcher?.reload();
        return { results: view(updated) };
      },
    }),
    route({
      method: 'DELETE',
      url: `${base}/:id`,
      grant: 'webhooks/modify',
      summary: 'Delete a webhook and its pending batches',
      tag,
      params: webhookIdParams,
      async handler({ params }) {
        if (!(await deps.store.delete(params.id))) throw notFound(`no webhook ${params.id}`);
        await deps.dispatcher?.reload();
        return undefined;
      },
    }),
    route({
      method: 'POST',
      url: `${base}/:id/validate`,
      grant: 'webhooks/modify',
      summary: 'Send a test batch to the target and report whether it was accepted (its answer only if so)',
      tag,
      params: webhookIdParams,
      async handler({ params }) {
        const result = await test(await find(params.id), params.id);
        if (!result.ok)
          return { results: { msg: 'Test POST to endpoint failed', description: failureText(result) } };
        return {
          results: {
            msg: 'Test POST to endpoint succeeded',
            response: { status: result.status, body: result.body },
          },
        };
      },
    }),
  ];
}
