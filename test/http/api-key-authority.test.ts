/**
 * Specifies, over HTTP against the real `sluice serve` binary, that `api_keys/manage` cannot be
 * turned into more: a key holding only that grant cannot create a key with other grants (the
 * attack of issue 14: all grants from one), cannot add grants to a key by PUT, cannot unbind or
 * widen another key's valid_ips, cannot rename or delete a key wider than itself; a key bound by
 * valid_ips can only create keys bound inside them. Each refusal is a 403 in SparkPost's shape
 * naming the field, the store is unchanged, and the official `sparkpost` client sees the same.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { GRANTS } from '../../src/core/grants.js';
import { type ApiCall, apiClient } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

// biome-ignore lint/suspicious/noExplicitAny: the client is untyped JavaScript; the test checks its answers
type Any = any;
const SparkPost = createRequire(import.meta.url)('sparkpost') as new (
  key: string,
  options: { origin: string },
) => Any;

let sluice: SluiceProcess;
/** A key holding only api_keys/manage, usable from anywhere. */
let manager: ApiCall;
let managerId: string;
/** A key created by the operator with every grant. */
let full: { id: string; key: string };

before(async () => {
  sluice = await startSluice({ overrides: { 'delivery.relayhost': '[127.0.0.1]:9' } });
  const made = await createKey(sluice.dataDir, { label: 'manager', grants: ['api_keys/manage'] });
  manager = apiClient(sluice.httpPort, made.key);
  managerId = made.id;
  full = await createKey(sluice.dataDir, { label: 'operator', grants: [...GRANTS], validIps: ['127.0.0.1'] });
});

after(async () => {
  await sluice?.stop();
});

const keyCount = async () => (await manager('GET', '/api/v1/api-keys')).body.results.length as number;

function assertForbidden(answer: { status: number; body: Any }, field: string, pattern: RegExp) {
  assert.equal(answer.status, 403, JSON.stringify(answer.body));
  assert.equal(answer.body.errors[0].message, 'Forbidden.');
  assert.ok(answer.body.errors[0].description.startsWith(`${field}: `), answer.body.errors[0].description);
  assert.match(answer.body.errors[0].description, pattern);
}

describe('a key with only api_keys/manage', () => {
  test('cannot create a key with every grant, nor with any grant it lacks', async () => {
    const before = await keyCount();
    const all = await manager('POST', '/api/v1/api-keys', { label: 'root', grants: [...GRANTS] });
    assertForbidden(all, 'grants', /smtp\/inject/);
    assert.ok(!all.body.errors[0].description.includes('api_keys/manage'), 'only what it lacks is named');
    const one = await manager('POST', '/api/v1/api-keys', { label: 'x', grants: ['transmissions/modify'] });
    assertForbidden(one, 'grants', /transmissions\/modify/);
    assert.equal(await keyCount(), before, 'nothing was created');
    const same = await manager('POST', '/api/v1/api-keys', { label: 'peer', grants: ['api_keys/manage'] });
    assert.equal(same.status, 200, 'a key no wider than itself is fine');
  });

  test('cannot add grants by PUT, to a key it made or to itself', async () => {
    const made = await manager('POST', '/api/v1/api-keys', { label: 'made', grants: ['api_keys/manage'] });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const id = made.body.results.id;
    assertForbidden(
      await manager('PUT', `/api/v1/api-keys/${id}`, { grants: ['webhooks/modify'] }),
      'grants',
      /webhooks\/modify/,
    );
    assert.deepEqual((await manager('GET', `/api/v1/api-keys/${id}`)).body.results.grants, [
      'api_keys/manage',
    ]);
    assertForbidden(
      await manager('PUT', `/api/v1/api-keys/${managerId}`, { grants: ['api_keys/manage', 'smtp/inject'] }),
      'grants',
      /smtp\/inject/,
    );
  });

  test('cannot unbind, rebind, rename or delete a key wider than itself; that key keeps working', async () => {
    for (const change of [{ valid_ips: [] }, { valid_ips: ['0.0.0.0/0'] }, { label: 'mine now' }]) {
      assertForbidden(
        await manager('PUT', `/api/v1/api-keys/${full.id}`, change),
        'grants',
        /outside this key's authority/,
      );
    }
    assertForbidden(await manager('DELETE', `/api/v1/api-keys/${full.id}`), 'grants', /outside/);
    const got = (await apiClient(sluice.httpPort, full.key)('GET', `/api/v1/api-keys/${full.id}`)).body
      .results;
    assert.deepEqual(got.valid_ips, ['127.0.0.1']);
    assert.equal(got.label, 'operator');
  });

  test('the official sparkpost client gets the refusal as a 403 SparkPostError naming the field', async () => {
    const key = await createKey(sluice.dataDir, { grants: ['api_keys/manage'] });
    const client = new SparkPost(key.key, { origin: `http://127.0.0.1:${sluice.httpPort}` });
    await assert.rejects(
      client.post({ uri: 'api-keys', json: { label: 'lib', grants: ['smtp/inject'] } }),
      (error: Any) => error.statusCode === 403 && /^grants: /.test(error.errors[0].description),
    );
  });
});

describe('a key bound by valid_ips', () => {
  let bound: ApiCall;
  before(async () => {
    const key = await createKey(sluice.dataDir, {
      grants: ['api_keys/manage', 'message_events/view'],
      validIps: ['127.0.0.0/8'],
    });
    bound = apiClient(sluice.httpPort, key.key);
  });

  test('can only create keys bound inside its own networks, never unbound', async () => {
    const grants = ['message_events/view'];
    for (const valid_ips of [undefined, [], ['0.0.0.0/0'], ['10.0.0.0/8'], ['::ffff:0:0/96'], ['::/0']]) {
      const answer = await bound('POST', '/api/v1/api-keys', { label: 'x', grants, valid_ips });
      assertForbidden(answer, 'valid_ips', /127\.0\.0\.0\/8/);
    }
    for (const valid_ips of [['127.0.0.1'], ['127.0.0.0/9', '127.128.0.0/9'], ['::ffff:127.0.0.2']]) {
      const answer = await bound('POST', '/api/v1/api-keys', { label: 'in', grants, valid_ips });
      assert.equal(answer.status, 200, `${valid_ips}: ${JSON.stringify(answer.body)}`);
    }
  });

  test('cannot unbind or widen a key it made by PUT; narrowing is fine', async () => {
    const made = await bound('POST', '/api/v1/api-keys', {
      label: 'narrow',
      grants: ['message_events/view'],
      valid_ips: ['127.0.0.0/16'],
    });
    const id = made.body.results.id;
    assertForbidden(await bound('PUT', `/api/v1/api-keys/${id}`, { valid_ips: [] }), 'valid_ips', /bound/);
    assertForbidden(
      await bound('PUT', `/api/v1/api-keys/${id}`, { valid_ips: ['127.0.0.0/7'] }),
      'valid_ips',
      /within/,
    );
    assert.deepEqual((await bound('GET', `/api/v1/api-keys/${id}`)).body.results.valid_ips, ['127.0.0.0/16']);
    const narrowed = await bound('PUT', `/api/v1/api-keys/${id}`, { valid_ips: ['127.0.0.1'] });
    assert.equal(narrowed.status, 200);
    assert.deepEqual(narrowed.body.results.valid_ips, ['127.0.0.1']);
  });
});
