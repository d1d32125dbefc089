/**
 * Specifies the API's doors and bad input against the real `sluice serve` binary over HTTP:
 * 401 without or with an unknown key, 403 for a missing grant (naming it) or an address outside valid_ips,
 * HTTP Basic with the key as user name; api-keys CRUD (the secret shown once, a deleted key
 * stops working at once), GET /authenticate/grants; suppression-list get/put/delete; 422 naming
 * the field, 400 for malformed JSON, 413 over http.max_body, a JSON 404, 429 with Retry-After
 * past the per-key rate; the server keeps answering after all of it. OpenAPI lists every route.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type ApiCall, apiClient } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;
let admin: { id: string; key: string };
let api: ApiCall;

before(async () => {
  sluice = await startSluice({
    overrides: { 'http.max_body': 4096, 'http.rate_limit': 1000, 'delivery.relayhost': '[127.0.0.1]:9' },
  });
  admin = await createKey(sluice.dataDir, {
    label: 'admin',
    grants: ['api_keys/manage', 'suppression_lists/manage', 'transmissions/modify', 'message_events/view'],
  });
  api = apiClient(sluice.httpPort, admin.key);
});

after(async () => {
  await sluice?.stop();
});

describe('authentication and grants', () => {
  test('401 without a key, with an unknown key, and with a malformed one, in SparkPost shape', async () => {
    for (const key of [null, 'f'.repeat(40), 'not a key']) {
      const answer = await apiClient(sluice.httpPort, key)('GET', '/api/v1/api-keys');
      assert.equal(answer.status, 401);
      assert.deepEqual(answer.body, { errors: [{ message: 'Unauthorized.' }] });
    }
  });

  test('403 when the key lacks the grant; HTTP Basic with the key as user name works', async () => {
    const viewer = await createKey(sluice.dataDir, { label: 'viewer', grants: ['message_events/view'] });
    const denied = await apiClient(sluice.httpPort, viewer.key)('GET', '/api/v1/api-keys');
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.body, {
      errors: [
        {
          message: 'Forbidden.',
          description: `this request needs an API key with the grant api_keys/manage; key ${viewer.id} has message_events/view`,
        },
      ],
    });
    for (const [method, url, grant] of [
      ['POST', '/api/v1/transmissions', 'transmissions/modify'],
      ['GET', '/api/v1/suppression-list', 'suppression_lists/manage'],
      ['GET', '/api/v1/webhooks', 'webhooks/view'],
    ] as const) {
      const answer = await apiClient(sluice.httpPort, viewer.key)(
        method,
        url,
        method === 'POST' ? {} : undefined,
      );
      assert.equal(answer.status, 403, url);
      assert.match(
        answer.body.errors[0].description,
        new RegExp(`needs an API key with the grant ${grant};`),
        url,
      );
    }
    const basic = `Basic ${Buffer.from(`${viewer.key}:`).toString('base64')}`;
    const events = await apiClient(sluice.httpPort, basic)('GET', '/api/v1/events/message');
    assert.equal(events.status, 200);
    const forged = await apiClient(sluice.httpPort, basic)('GET', '/api/v1/events/message?cursor=forged');
    assert.equal(forged.status, 422, 'a cursor this server did not write');
    assert.match(JSON.stringify(forged.body), /cursor/);
    const grants = await apiClient(sluice.httpPort, basic)('GET', '/api/v1/authenticate/grants');
    assert.deepEqual(grants.body, { results: ['message_events/view'] });
  });

  test('403 from an address outside the key valid_ips; allowed from inside', async () => {
    const far = await createKey(sluice.dataDir, {
      grants: ['message_events/view'],
      validIps: ['10.9.9.0/24'],
    });
    const refused = await apiClient(sluice.httpPort, far.key)('GET', '/api/v1/events/message');
    assert.equal(refused.status, 403);
    assert.match(
      refused.body.errors[0].description,
      new RegExp(`key ${far.id} may not be used from 127\\.0\\.0\\.1`),
    );
    const near = await createKey(sluice.dataDir, {
      grants: ['message_events/view'],
      validIps: ['127.0.0.0/8'],
    });
    assert.equal((await apiClient(sluice.httpPort, near.key)('GET', '/api/v1/events/message')).status, 200);
  });
});

describe('/api/v1/api-keys', () => {
  test('create shows the key once; list/get show a short_key; update; delete stops the key at once', async () => {
    const created = await api('POST', '/api/v1/api-keys', {
      label: 'worker',
      grants: ['message_events/view'],
      valid_ips: ['127.0.0.1'],
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const { id, key, label } = created.body.results;
    assert.equal(label, 'worker');
    assert.match(key, /^[0-9a-f]{40}$/);
    const list = await api('GET', '/api/v1/api-keys');
    const listed = list.body.results.find((k: { id: string }) => k.id === id);
    assert.equal(listed.short_key, key.slice(0, 4));
    assert.ok(!JSON.stringify(list.body).includes(key), 'the secret is never listed');
    const worker = apiClient(sluice.httpPort, key);
    assert.equal((await worker('GET', '/api/v1/events/message')).status, 200);

    const updated = await api('PUT', `/api/v1/api-keys/${id}`, {
      label: 'worker 2',
      grants: ['api_keys/manage'],
    });
    assert.equal(updated.status, 200);
    assert.deepEqual(updated.body.results.grants, ['api_keys/manage']);
    assert.equal((await worker('GET', '/api/v1/events/message')).status, 403, 'grant removed');
    const got = await api('GET', `/api/v1/api-keys/${id}`);
    assert.equal(got.body.results.label, 'worker 2');

    assert.equal((await api('DELETE', `/api/v1/api-keys/${id}`)).status, 204);
    assert.equal((await worker('GET', '/api/v1/api-keys')).status, 401, 'deleted key refused');
    assert.equal((await api('GET', `/api/v1/api-keys/${id}`)).status, 404);
    assert.equal((await api('DELETE', `/api/v1/api-keys/${id}`)).status, 404);
  });

  test('an unknown grant or a bad valid_ips entry is a 422 naming the field', async () => {
    const grant = await api('POST', '/api/v1/api-keys', { label: 'x', grants: ['root/everything'] });
    assert.equal(grant.status, 422);
    assert.match(grant.body.errors[0].description, /^grants\.0:/);
    const ip = await api('POST', '/api/v1/api-keys', {
      label: 'x',
      grants: ['smtp/inject'],
      valid_ips: ['300.1.1.1'],
    });
    assert.equal(ip.status, 422);
    assert.match(ip.body.errors[0].description, /^valid_ips\.0:/);
    const missing = await api('POST', '/api/v1/api-keys', { grants: ['smtp/inject'] });
    assert.equal(missing.status, 422);
    assert.equal(missing.body.errors[0].message, 'required field is missing');
    assert.match(missing.body.errors[0].description, /^label is required/);
  });
});

describe('/api/v1/suppression-list', () => {
  test('put in bulk, get one, list with search and cursor, delete one type, delete all', async () => {
    const recipients = ['a1@list.example', 'a2@list.example', 'b1@other.example'].map((recipient) => ({
      recipient,
      type: 'non_transactional',
      description: 'test',
    }));
    assert.equal((await api('PUT', '/api/v1/suppression-list', { recipients })).status, 200);
    assert.equal(
      (await api('PUT', '/api/v1/suppression-list/a1@list.example', { type: 'transactional' })).status,
      200,
    );
    const one = await api('GET', '/api/v1/suppression-list/A1@list.example');
    assert.deepEqual(one.body.results.map((r: { type: string }) => r.type).sort(), [
      'non_transactional',
      'transactional',
    ]);
    assert.equal(one.body.results[0].source, 'Manually Added');

    const searched = await api(
      'GET',
      '/api/v1/suppression-list?search=list.example&types=non_transactional&per_page=1',
    );
    assert.equal(searched.body.results.length, 1);
    const second = await api('GET', searched.body.links.next);
    assert.equal(second.body.results.length, 1);
    assert.notEqual(second.body.results[0].recipient, searched.body.results[0].recipient);
    assert.equal(
      (await api('GET', second.body.links.next ?? '/none')).status,
      second.body.links.next ? 200 : 404,
    );
    // A cursor the store did not write is the client's mistake, named like any bad field.
    const forged = await api('GET', '/api/v1/suppression-list?cursor=forged');
    assert.equal(forged.status, 422);
    assert.match(JSON.stringify(forged.body), /cursor/);

    assert.equal(
      (await api('DELETE', '/api/v1/suppression-list/a1@list.example?type=transactional')).status,
      204,
    );
    const left = await api('GET', '/api/v1/suppression-list/a1@list.example');
    assert.deepEqual(
      left.body.results.map((r: { type: string }) => r.type),
      ['non_transactional'],
    );
    assert.equal((await api('DELETE', '/api/v1/suppression-list/a1@list.example')).status, 204);
    assert.equal((await api('GET', '/api/v1/suppression-list/a1@list.example')).status, 404);
    const bad = await api('PUT', '/api/v1/suppression-list', {
      recipients: [{ recipient: 'x@y.example', type: 'all' }],
    });
    assert.equal(bad.status, 422);
    assert.match(bad.body.errors[0].description, /^recipients\.0\.type:/);
  });
});

describe('bad input', () => {
  test('422 names the field of a bad transmission', async () => {
    const cases: [unknown, RegExp][] = [
      [{ recipients: [], content: { from: 'a@b.example', subject: 's', text: 't' } }, /^recipients:/],
      [
        { recipients: [{ address: 'nobody' }], content: { from: 'a@b.example', subject: 's', text: 't' } },
        /^recipients\.0\.address:/,
      ],
      [
        { recipients: [{ address: 'a@b.example' }], content: { from: 'a@b.example', subject: 's' } },
        /^content\.html: html or text is required/,
      ],
      [
        {
          recipients: [{ address: 'a@b.example' }],
          content: { from: 'a@b.example', subject: 's', text: 't' },
          options: { open_tracking: 'yes' },
        },
        /^options\.open_tracking:/,
      ],
      [
        {
          recipients: [{ address: 'a@b.example' }],
          content: { from: 'a@b.example', subject: 's', text: 't' },
          bogus: 1,
        },
        /bogus/,
      ],
    ];
    for (const [body, field] of cases) {
      const answer = await api('POST', '/api/v1/transmissions', body);
      assert.equal(answer.status, 422, JSON.stringify(answer.body));
      assert.match(answer.body.errors[0].description, field);
    }
  });

  test('400 for malformed JSON, 413 over http.max_body, JSON 404 for an unknown route', async () => {
    for (const text of ['{"recipients":', '{bad json}', '\u0000\u0001binary']) {
      const answer = await api('POST', '/api/v1/transmissions', text);
      assert.equal(answer.status, 400, text);
      assert.equal(answer.body.errors[0].message, 'invalid JSON');
    }
    const big = await api('POST', '/api/v1/transmissions', { recipients: [], pad: 'x'.repeat(5000) });
    assert.equal(big.status, 413);
    assert.equal(big.body.errors[0].message, 'request body too large');
    const missing = await api('GET', '/api/v1/no-such-thing');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.errors[0].code, '1600');
  });

  test('a truncated request (connection closed mid-body) does not stop the server', async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect(sluice.httpPort, '127.0.0.1', () => {
        socket.write(
          `POST /api/v1/transmissions HTTP/1.1\r\nHost: x\r\nAuthorization: ${admin.key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"recipients":[`,
        );
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    assert.equal((await api('GET', '/api/v1/api-keys')).status, 200);
  });

  test('OpenAPI lists every route with its schemas', async () => {
    const doc = await apiClient(sluice.httpPort, null)('GET', '/api/v1/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal(doc.body.openapi, '3.1.0');
    for (const path of [
      '/api/v1/transmissions',
      '/api/v1/api-keys/{id}',
      '/api/v1/events/message',
      '/api/v1/suppression-list/{recipient}',
    ])
      assert.ok(doc.body.paths[path], path);
    const body = doc.body.paths['/api/v1/transmissions'].post.requestBody.content['application/json'].schema;
    assert.ok(body.required.includes('recipients'));
    assert.equal(doc.body.paths['/api/v1/transmissions'].post['x-sluice-grant'], 'transmissions/modify');
  });
});

test('429 with Retry-After past the per-key rate limit, for that key only', async () => {
  const limited = await startSluice({ overrides: { 'http.rate_limit': 3, 'http.rate_window': '1h' } });
  try {
    const a = await createKey(limited.dataDir, { grants: ['message_events/view'] });
    const b = await createKey(limited.dataDir, { grants: ['message_events/view'] });
    const callA = apiClient(limited.httpPort, a.key);
    for (let i = 0; i < 3; i++) assert.equal((await callA('GET', '/api/v1/events/message')).status, 200);
    const refused = await callA('GET', '/api/v1/events/message');
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(refused.body.errors[0].message, 'Too many requests');
    assert.equal((await apiClient(limited.httpPort, b.key)('GET', '/api/v1/events/message')).status, 200);
  } finally {
    await limited.stop();
  }
});
