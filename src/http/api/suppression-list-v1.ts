/**
 * /api/v1/suppression-list (grant suppression_lists/manage): list and search (cursor-paged,
 * newest update first), get one recipient's entries, put entries in bulk or for one recipient,
 * delete a recipient (one type or both). Every write goes through core/suppressions-admin, the
 * same functions the `sluice suppressions` CLI calls.
 */
import {
  addSuppressions,
  listSuppressions,
  removeSuppression,
  suppressionsOf,
} from '../../core/suppressions-admin.js';
import type { SuppressionStore } from '../../store/types.js';
import { notFound, withCursor } from './errors.js';
import { type ApiRoute, route } from './route.js';
import {
  putOneSuppressionBody,
  putSuppressionsBody,
  recipientParams,
  suppressionDeleteQuery,
  suppressionListQuery,
  suppressionView,
} from './schemas.js';

export function suppressionRoutes(store: SuppressionStore): ApiRoute[] {
  const base = '/api/v1/suppression-list';
  const grant = 'suppression_lists/manage';
  const tag = 'Suppression list';
  return [
    route({
      method: 'GET',
      url: base,
      grant,
      summary: 'List or search entries, newest update first, cursor-paged',
      tag,
      query: suppressionListQuery,
      results: suppressionView.array(),
      async handler({ query }) {
        let page: Awaited<ReturnType<typeof listSuppressions>>;
        page = await withCursor(() =>
          listSuppressions(store, {
            ...(query.types ? { types: query.types } : {}),
            ...(query.sources ? { sources: query.sources } : {}),
            ...(query.search ? { search: query.search } : {}),
            ...(query.from ? { from: query.from } : {}),
            ...(query.to ? { to: query.to } : {}),
            ...(query.cursor ? { cursor: query.cursor } : {}),
            limit: query.per_page,
          }),
        );
        const links: { next?: string } = {};
        if (page.next) {
          const params = new URLSearchParams({ per_page: String(query.per_page), cursor: page.next });
          for (const name of ['types', 'sources'] as const)
            if (query[name]) params.set(name, query[name]!.join(','));
          for (const name of ['search', 'from', 'to'] as const)
            if (query[name]) params.set(name, query[name]!);
          links.next = `${base}?${params}`;
        }
        return { results: page.records, links, total_count: page.records.length };
      },
    }),
    route({
      method: 'PUT',
      url: base,
      grant,
      summary: 'Add or update entries in bulk',
      tag,
      body: putSuppressionsBody,
      async handler({ body }) {
        await addSuppressions(store, body.recipients);
        return { results: { message: 'Suppression List successfully updated' } };
      },
    }),
    route({
      method: 'GET',
      url: `${base}/:recipient`,
      grant,
      summary: "One recipient's entries",
      tag,
      params: recipientParams,
      results: suppressionView.array(),
      async handler({ params }) {
        const records = await suppressionsOf(store, params.recipient);
        if (records.length === 0) throw notFound(`${params.recipient} is not on the suppression list`);
        return { results: records };
      },
    }),
    route({
      method: 'PUT',
      url: `${base}/:recipient`,
      grant,
      summary: 'Add or update one entry',
      tag,
      params: recipientParams,
      body: putOneSuppressionBody,
      async handler({ params, body }) {
        await addSuppressions(store, [{ recipient: params.recipient, ...body }]);
        return { results: { message: 'Suppression List successfully updated' } };
      },
    }),
    route({
      method: 'DELETE',
      url: `${base}/:recipient`,
      grant,
      summary: "Remove a recipient's entries (?type= for one type)",
      tag,
      params: recipientParams,
      query: suppressionDeleteQuery,
      async handler({ params, query }) {
        const removed = await removeSuppression(store, params.recipient, query.type);
        if (removed === 0) throw notFound(`${params.recipient} is not on the suppression list`);
        return undefined;
      },
    }),
  ];
}
