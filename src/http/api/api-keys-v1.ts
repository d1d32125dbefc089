/**
 * /api/v1/api-keys (grant api_keys/manage) and GET /api/v1/authenticate/grants (any valid key).
 * The same KeyService the `sluice keys` commands use: the secret is returned once, at creation,
 * and only its hash is kept; listings show the first four characters as `short_key`. Creating,
 * changing and deleting go through core's DelegatedKeys, so the calling key can only act within
 * its own grants and valid_ips (403 naming the field otherwise).
 */
import { DelegatedKeys, KeyAuthorityError } from '../../core/key-authority.js';
import type { KeyService } from '../../core/keys.js';
import type { ApiKeyRecord } from '../../store/types.js';
import { ApiError, notFound } from './errors.js';
import { type ApiRoute, route } from './route.js';
import { createKeyBody, grantSchema, keyIdParams, keyView, updateKeyBody } from './schemas.js';

export function view(record: ApiKeyRecord) {
  return {
    id: record.id,
    label: record.label,
    grants: record.grants,
    valid_ips: record.valid_ips,
    short_key: record.prefix,
    defaults: record.defaults,
    created_at: record.created_at,
    last_used_at: record.last_used_at,
  };
}

export function apiKeyRoutes(keys: KeyService): ApiRoute[] {
  const base = '/api/v1/api-keys';
  const tag = 'API keys';
  return [
    route({
      method: 'POST',
      url: base,
      grant: 'api_keys/manage',
      summary: 'Create a key; the secret is in this answer only',
      tag,
      body: createKeyBody,
      results: keyView.pick({ id: true, label: true }).extend({ key: keyView.shape.id }),
      async handler({ key, body }) {
        const { record, secret } = await withinAuthority(() => new DelegatedKeys(keys, key).create(body));
        return { results: { id: record.id, key: secret, label: record.label } };
      },
    }),
    route({
      method: 'GET',
      url: base,
      grant: 'api_keys/manage',
      summary: 'List keys',
      tag,
      results: keyView.array(),
      async handler() {
        return { results: (await keys.list()).map(view) };
      },
    }),
    route({
      method: 'GET',
      url: `${base}/:id`,
      grant: 'api_keys/manage',
      summary: 'Get one key',
      tag,
      params: keyIdParams,
      results: keyView,
      async handler({ params }) {
        const record = await keys.get(params.id);
        if (!record) throw notFound(`no API key ${params.id}`);
        return { results: view(record) };
      },
    }),
    route({
      method: 'PUT',
      url: `${base}/:id`,
      grant: 'api_keys/manage',
      summary: 'Change label, grants or valid_ips',
      tag,
      params: keyIdParams,
      body: updateKeyBody,
      results: keyView,
      async handler({ key, params, body }) {
        const record = await withinAuthority(() => new DelegatedKeys(keys, key).update(params.id, body));
        if (!record) throw notFound(`no API key ${params.id}`);
        return { results: view(record) };
      },
    }),
    route({
      method: 'DELETE',
      url: `${base}/:id`,
      grant: 'api_keys/manage',
      summary: 'Delete a key (it stops working at once)',
      tag,
      params: keyIdParams,
      async handler({ key, params }) {
        const deleted = await withinAuthority(() => new DelegatedKeys(keys, key).delete(params.id));
        if (!deleted) throw notFound(`no API key ${params.id}`);
        return undefined;
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/authenticate/grants',
      grant: null,
      summary: 'The grants of the calling key',
      tag,
      results: grantSchema.array(),
      async handler({ key }) {
        return { results: key.grants };
      },
    }),
  ];
}

/** core's refusal as SparkPost's 403, naming the field. */
async function withinAuthority<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof KeyAuthorityError)
      throw new ApiError(403, { message: 'Forbidden.', description: `${error.field}: ${error.message}` });
    throw error;
  }
}
