/**
 * SparkPost's Recipient Lists API (grant recipient_lists/manage). A list keeps each recipient
 * whole (address, return_path, tags, metadata, substitution_data), for transmissions that name it
 * with `recipients: {"list_id": …}`. Recipients are checked one by one: an invalid one is rejected
 * alone and reported in rcpt_to_errors (all of them, or ?num_rcpt_errors at most); a list with no
 * valid recipient is refused (400, code 5002); a taken id is 400 code 5001. A list cannot change
 * or go (409) while a submitted or generating transmission uses it. PUT replaces the recipients
 * only when it gives them.
 */
import { randomBytes } from 'node:crypto';
import type { RecipientListMeta } from '../../store/types.js';
import {
  checkRecipients,
  createListBody,
  listParams,
  listQuery,
  listResults,
  listSummary,
  listView,
  showListQuery,
  updateListBody,
} from './content-schemas.js';
import { ApiError, conflict, invalidValue } from './errors.js';
import type { ApiDeps } from './index.js';
import { type ApiRoute, route } from './route.js';

const missing = (id: string) =>
  new ApiError(404, {
    message: 'resource not found',
    code: '1600',
    description: `List '${id}' does not exist`,
  });

const noneValid = () =>
  new ApiError(400, { message: 'At least one valid recipient is required', code: '5002' });

function summary(meta: RecipientListMeta) {
  return {
    id: meta.id,
    name: meta.name,
    description: meta.description,
    attributes: meta.attributes,
    total_accepted_recipients: meta.total_accepted_recipients,
  };
}

/** The recipients worth keeping and the errors to show (all, or at most `limit`). */
function checked(raw: readonly unknown[], limit: number | undefined) {
  const { valid, errors } = checkRecipients(raw);
  if (valid.length === 0) throw noneValid();
  const shown = limit === undefined ? errors : errors.slice(0, limit);
  return {
    valid,
    counts: {
      total_rejected_recipients: errors.length,
      total_accepted_recipients: valid.length,
      ...(shown.length > 0 ? { rcpt_to_errors: shown } : {}),
    },
  };
}

export function recipientListRoutes(deps: ApiDeps): ApiRoute[] {
  const store = deps.recipientLists;
  const inUse = async (id: string) => {
    if (await deps.transmissions.inUse({ recipient_list_id: id }))
      throw conflict(`List '${id}' is in use by msg generation`);
  };
  return [
    route({
      method: 'POST',
      url: '/api/v1/recipient-lists',
      grant: 'recipient_lists/manage',
      summary: 'Create a recipient list',
      tag: 'Recipient Lists',
      body: createListBody,
      query: listQuery,
      results: listResults,
      async handler({ body, query }) {
        const { valid, counts } = checked(body.recipients, query.num_rcpt_errors ?? body.num_rcpt_errors);
        const now = new Date().toISOString();
        const id = body.id ?? randomBytes(8).toString('hex');
        const meta: RecipientListMeta = {
          id,
          name: body.name ?? id,
          description: body.description ?? '',
          attributes: body.attributes ?? {},
          total_accepted_recipients: valid.length,
          created: now,
          updated: now,
        };
        if (!(await store.insert(meta, valid)))
          throw new ApiError(400, {
            message: 'List already exists',
            code: '5001',
            description: `List '${id}' already exists`,
          });
        return { results: { ...counts, id, name: meta.name } };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/recipient-lists',
      grant: 'recipient_lists/manage',
      summary: 'List recipient lists (without their recipients)',
      tag: 'Recipient Lists',
      results: listSummary.array(),
      async handler() {
        return { results: (await store.list()).map(summary) };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/recipient-lists/:id',
      grant: 'recipient_lists/manage',
      summary: 'A recipient list (?show_recipients=true for its recipients)',
      tag: 'Recipient Lists',
      params: listParams,
      query: showListQuery,
      results: listView,
      async handler({ params, query }) {
        const meta = await store.get(params.id);
        if (!meta) throw missing(params.id);
        if (query.show_recipients !== true) return { results: summary(meta) };
        return { results: { ...summary(meta), recipients: (await store.recipients(params.id)) ?? [] } };
      },
    }),
    route({
      method: 'PUT',
      url: '/api/v1/recipient-lists/:id',
      grant: 'recipient_lists/manage',
      summary: 'Update a recipient list (recipients replaced when given)',
      tag: 'Recipient Lists',
      params: listParams,
      query: listQuery,
      body: updateListBody,
      results: listResults,
      async handler({ params, query, body }) {
        if (body.id !== undefined && body.id !== params.id)
          throw invalidValue('id', `List id '${body.id}' does not match the list being updated`);
        const meta = await store.get(params.id);
        if (!meta) throw missing(params.id);
        await inUse(params.id);
        const limit = query.num_rcpt_errors ?? body.num_rcpt_errors;
        const replaced = body.recipients === undefined ? null : checked(body.recipients, limit);
        const next: RecipientListMeta = {
          ...meta,
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.attributes !== undefined ? { attributes: body.attributes } : {}),
          ...(replaced ? { total_accepted_recipients: replaced.valid.length } : {}),
          updated: new Date().toISOString(),
        };
        if (!(await store.update(next, replaced?.valid ?? null))) throw missing(params.id);
        return { results: { ...(replaced?.counts ?? {}), id: next.id, name: next.name } };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/recipient-lists/:id',
      grant: 'recipient_lists/manage',
      summary: 'Delete a recipient list',
      tag: 'Recipient Lists',
      params: listParams,
      async handler({ params }) {
        if (!(await store.get(params.id))) throw missing(params.id);
        await inUse(params.id);
        if (!(await store.delete(params.id))) throw missing(params.id);
        return {};
      },
    }),
  ];
}
