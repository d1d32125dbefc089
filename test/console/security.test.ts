/**
 * Specifies who may use the operator console, over real HTTP against a real `sluice serve` whose
 * tracking.trusted_proxies is loopback (so X-Forwarded-For stands for a client elsewhere):
 * outside admin.http_networks every /console path is the plain 404 of an unknown route, session
 * or not; without a session no endpoint answers data; sign-in refuses wrong keys, keys without a
 * console grant, other origins and bad bodies, and sets an HttpOnly, SameSite=Strict cookie
 * (Secure behind TLS) for session_lifetime; a read-only key cannot act; every action needs the
 * session's CSRF token and this origin; the CSP and cache headers are there; a session ends when
 * its key loses its grant or is revoked; bad input gets SparkPost-shaped 4xx and the server stays up.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CONTENT_SECURITY_POLICY } from '../../src/http/console/security.js';
import { BUILT_ASSETS_DIR } from '../../src/http/console/static-files.js';
import { createKey, sluiceCli } from '../harness/clients.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;
let base: string;
const keys: Record<'manage' | 'view' | 'none', { id: string; key: string }> = {} as never;

before(async () => {
  sluice = await startSluice({
    overrides: {
      'tracking.trusted_proxies': '[127.0.0.1/32]',
      'admin.http_networks': '[127.0.0.0/8]',
      'console.session_lifetime': '2m',
    },
  });
  base = `http://127.0.0.1:${sluice.httpPort}`;
  const [manage, view, none] = await Promise.all([
    createKey(sluice.dataDir, { label: 'operator', grants: ['console/manage'] }),
    createKey(sluice.dataDir, { label: 'watcher', grants: ['console/view'] }),
    createKey(sluice.dataDir, { label: 'app', grants: ['smtp/inject', 'suppression_lists/manage'] }),
  ]);
  Object.assign(keys, { manage, view, none });
});

after(async () => {
  await sluice?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

const OUTSIDE = { 'x-forwarded-for': '203.0.113.9' };

interface Session {
  cookie: string;
  csrf: string;
  setCookie: string;
}

function request(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; session?: Session } = {},
) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.session) headers.cookie = options.session.cookie;
  return fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
}

/** A JSON action from the console's own page: same Origin, the session's token. */
function act(
  method: string,
  path: string,
  session: Session,
  body?: unknown,
  extra: Record<string, string> = {},
) {
  return request(method, `/console/api${path}`, {
    session,
    headers: {
      origin: base,
      'x-sluice-csrf': session.csrf,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...extra,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function signIn(key: string, headers: Record<string, string> = {}): Promise<Session> {
  const response = await request('POST', '/console/api/session', {
    headers: { 'content-type': 'application/json', origin: base, ...headers },
    body: JSON.stringify({ key }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const setCookie = response.headers.get('set-cookie') ?? '';
  const { csrf } = (await response.json()) as { csrf: string };
  return { cookie: setCookie.split(';')[0]!, csrf, setCookie };
}

const anAsset = () => readdirSync(path.join(BUILT_ASSETS_DIR, 'assets')).find((n) => n.endsWith('.js'))!;

test('outside admin.http_networks every console path is the plain 404 of an unknown route, session or not', async () => {
  const session = await signIn(keys.manage.key);
  for (const [method, where] of [
    ['GET', '/console/'],
    ['GET', `/console/assets/${anAsset()}`],
    ['GET', '/console/api/session'],
    ['GET', '/console/api/queue'],
    ['POST', '/console/api/session'],
  ] as const) {
    const response = await request(method, where, {
      session,
      headers: { ...OUTSIDE, origin: base, 'content-type': 'application/json' },
      ...(method === 'POST' ? { body: JSON.stringify({ key: keys.manage.key }) } : {}),
    });
    assert.equal(response.status, 404, `${method} ${where}`);
    assert.equal(response.headers.get('content-security-policy'), null, 'nothing says a console is here');
    assert.equal(response.headers.get('set-cookie'), null);
    const unknown = await (await request(method, '/no-such-route')).text();
    assert.equal(await response.text(), unknown.replace('/no-such-route', where));
  }
  assert.equal(
    (await request('GET', '/console/api/queue', { session })).status,
    200,
    'inside, the same session reads',
  );
});

test('without a session no endpoint answers data', async () => {
  for (const where of [
    '/queue',
    '/queue/messages',
    '/trace?recipient=a@b.example',
    '/suppressions',
    '/keys',
    '/webhooks',
    '/overview',
    '/session',
  ]) {
    const response = await request('GET', `/console/api${where}`);
    assert.equal(response.status, 401, where);
    const body = (await response.json()) as { errors: Array<{ message: string }> };
    assert.equal(body.errors[0]!.message, 'Unauthorized.', where);
  }
  const forged = { cookie: 'sluice_console=forged-session-id', csrf: 'x', setCookie: '' };
  assert.equal((await act('POST', '/suppressions', forged, { recipient: 'x@y.example' })).status, 401);
  const page = await request('GET', '/console/');
  assert.equal(page.status, 200, 'the page itself is a shell with no data');
});

test('sign-in refuses wrong keys, keys without a console grant, other origins and bad bodies', async () => {
  const post = (body: string | Buffer, headers: Record<string, string> = {}) =>
    request('POST', '/console/api/session', {
      headers: { 'content-type': 'application/json', origin: base, ...headers },
      body,
    });
  assert.equal((await post(JSON.stringify({ key: 'a'.repeat(40) }))).status, 401, 'unknown key');
  assert.equal((await post(JSON.stringify({ key: 'not a key' }))).status, 401, 'malformed key');
  const noGrant = await post(JSON.stringify({ key: keys.none.key }));
  assert.equal(noGrant.status, 403);
  assert.match(await noGrant.text(), /console\/view nor console\/manage/);
  const foreign: Array<Record<string, string>> = [
    { origin: 'http://evil.example' },
    { origin: '' },
    { 'sec-fetch-site': 'cross-site' },
  ];
  for (const headers of foreign) {
    const response = await post(JSON.stringify({ key: keys.manage.key }), headers);
    assert.equal(response.status, 403, JSON.stringify(headers));
    assert.equal(response.headers.get('set-cookie'), null);
  }
  assert.equal((await post('{"key":')).status, 400, 'truncated JSON');
  assert.equal((await post(Buffer.from([0xff, 0x00, 0xfe, 0x7b]))).status, 400, 'binary');
  assert.equal((await post(JSON.stringify({}))).status, 422, 'no key');
  assert.equal(
    (await post(JSON.stringify({ key: keys.manage.key, remember: true }))).status,
    422,
    'unknown field',
  );
  assert.equal((await post(JSON.stringify({ key: 'k'.repeat(5000) }))).status, 413, 'oversized');
  assert.equal((await post('key=abc', { 'content-type': 'application/x-www-form-urlencoded' })).status, 415);
  const health = await request('GET', '/healthz');
  assert.equal(health.status, 200, 'still up');
});

test('the session cookie: HttpOnly, SameSite=Strict, /console only, session_lifetime long, Secure behind TLS', async () => {
  const plain = await signIn(keys.view.key);
  const attributes = plain.setCookie.split(';').map((a) => a.trim());
  assert.match(attributes[0]!, /^sluice_console=[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(attributes.slice(1).sort(), [
    'HttpOnly',
    'Max-Age=120',
    'Path=/console',
    'SameSite=Strict',
  ]);
  const proxied = await signIn(keys.view.key, { 'x-forwarded-proto': 'https' });
  assert.ok(proxied.setCookie.split('; ').includes('Secure'), proxied.setCookie);
  const answer = (await (await request('GET', '/console/api/session', { session: plain })).json()) as {
    access: string;
    expires: string;
  };
  assert.equal(answer.access, 'view');
  const left = Date.parse(answer.expires) - Date.now();
  assert.ok(left > 60_000 && left <= 120_000, `${left} ms left`);
});

test('a read-only key reads but cannot act', async () => {
  const session = await signIn(keys.view.key);
  assert.equal((await request('GET', '/console/api/keys', { session })).status, 200);
  for (const [method, where, body] of [
    ['POST', '/queue/actions', { operation: 'flush', domain: 'example.com' }],
    ['POST', '/suppressions', { recipient: 'someone@example.com' }],
    ['DELETE', '/suppressions/someone@example.com', undefined],
    ['POST', '/keys', { label: 'escalate', grants: ['console/manage'] }],
    ['DELETE', `/keys/${keys.manage.id}`, undefined],
  ] as const) {
    const response = await act(method, where, session, body);
    assert.equal(response.status, 403, `${method} ${where}`);
    assert.match(await response.text(), /console\/view only/);
  }
  const listed = JSON.parse(
    (await sluiceCli(['keys', 'list', '--json', '-o', `data_dir=${sluice.dataDir}`])).stdout,
  );
  assert.equal(listed.length, 3, 'no key was made or removed');
});

test("every action needs the session's CSRF token and this origin", async () => {
  const session = await signIn(keys.manage.key);
  const other = await signIn(keys.manage.key);
  const add = (recipient: string, change: Partial<Session> = {}, extra: Record<string, string> = {}) =>
    act('POST', '/suppressions', { ...session, ...change }, { recipient }, extra);
  assert.equal((await add('no-token@example.com', { csrf: '' })).status, 403);
  assert.equal((await add('wrong-token@example.com', { csrf: 'A'.repeat(43) })).status, 403);
  assert.equal((await add('other-token@example.com', { csrf: other.csrf })).status, 403);
  assert.equal((await add('evil@example.com', {}, { origin: 'http://evil.example' })).status, 403);
  assert.equal((await add('no-origin@example.com', {}, { origin: '' })).status, 403);
  assert.equal((await add('cross@example.com', {}, { 'sec-fetch-site': 'cross-site' })).status, 403);
  assert.equal((await add('same@example.com')).status, 200);
  const listed = JSON.parse(
    (await sluiceCli(['suppressions', 'list', '--json', '-o', `data_dir=${sluice.dataDir}`])).stdout,
  ) as { records: Array<{ recipient: string }> };
  assert.deepEqual([...new Set(listed.records.map((r) => r.recipient))], ['same@example.com']);
  assert.equal((await act('DELETE', '/session', { ...session, csrf: 'nope' })).status, 403, 'sign-out too');
  const out = await act('DELETE', '/session', session);
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie') ?? '', /^sluice_console=; Path=\/console; Max-Age=0/);
  assert.equal((await request('GET', '/console/api/session', { session })).status, 401, 'signed out');
});

test('CSP, security and cache headers on the page, its assets and its data', async () => {
  const page = await request('GET', '/console/', { headers: { 'accept-encoding': 'br, gzip' } });
  const html = await page.text();
  const asset = await request('GET', `/console/assets/${anAsset()}`, {
    headers: { 'accept-encoding': 'gzip' },
  });
  const session = await signIn(keys.view.key);
  const data = await request('GET', '/console/api/queue', { session });
  for (const response of [page, asset, data]) {
    assert.equal(response.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
  }
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'self'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/);
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.equal(page.headers.get('content-encoding'), 'br');
  assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(asset.headers.get('content-encoding'), 'gzip');
  assert.equal(data.headers.get('cache-control'), 'no-store');
  for (const tag of html.match(/<script[^>]*>/g) ?? [])
    assert.match(tag, /src="\/console\/assets\/[\w-]+\.js"/);
  assert.doesNotMatch(
    html,
    /<style|\sstyle=|\son\w+=|https?:\/\//,
    'no inline style, handler or other origin',
  );
  const etag = page.headers.get('etag')!;
  assert.equal((await request('GET', '/console/', { headers: { 'if-none-match': etag } })).status, 304);
  assert.equal((await request('GET', '/console/assets/app-NOTBUILT.js')).status, 404);
});

test('a session ends as soon as its key loses the console grant or is revoked', async () => {
  const key = await createKey(sluice.dataDir, { label: 'temporary', grants: ['console/manage'] });
  const session = await signIn(key.key);
  assert.equal((await request('GET', '/console/api/queue', { session })).status, 200);
  const cli = (...args: string[]) => sluiceCli([...args, '-o', `data_dir=${sluice.dataDir}`]);
  assert.equal((await cli('keys', 'update', key.id, '--grant', 'console/view')).code, 0);
  assert.equal(
    (await act('POST', '/suppressions', session, { recipient: 'z@example.com' })).status,
    403,
    'now read only',
  );
  assert.equal((await request('GET', '/console/api/queue', { session })).status, 200);
  assert.equal((await cli('keys', 'update', key.id, '--grant', 'smtp/inject')).code, 0);
  assert.equal((await request('GET', '/console/api/queue', { session })).status, 401, 'no console grant');
  assert.equal((await cli('keys', 'update', key.id, '--grant', 'console/view')).code, 0);
  assert.equal((await request('GET', '/console/api/queue', { session })).status, 401, 'that session is over');
  const again = await signIn(key.key);
  assert.equal((await cli('keys', 'delete', key.id)).code, 0);
  assert.equal((await request('GET', '/console/api/queue', { session: again })).status, 401, 'revoked');
});

test('bad input to the JSON endpoints gets a 4xx naming the problem, and the server stays up', async () => {
  const session = await signIn(keys.manage.key);
  const cases: Array<[string, string, unknown, number, RegExp]> = [
    ['GET', '/trace?recipient=a@b.example&campaign=x', undefined, 422, /exactly one/],
    ['GET', '/trace', undefined, 422, /exactly one/],
    ['GET', '/queue/messages/not-an-id', undefined, 422, /20 hexadecimal/],
    ['GET', '/queue/messages/0123456789abcdef0123', undefined, 404, /no queued message/],
    ['GET', '/queue/messages?limit=0', undefined, 422, /limit/],
    ['GET', '/queue/messages?color=red', undefined, 422, /color|Unrecognized/],
    [
      'POST',
      '/queue/actions',
      { operation: 'hold', ids: ['0123456789abcdef0123'], domain: 'x.example' },
      422,
      /ids or domain/,
    ],
    ['POST', '/queue/actions', { operation: 'delete', domain: 'x.example' }, 422, /operation/],
    ['POST', '/queue/actions', { operation: 'hold', ids: ['../../etc/passwd'] }, 422, /20 hexadecimal/],
    ['POST', '/queue/actions', { operation: 'hold', domain: 'nothing.example' }, 422, /no queued message/],
    ['POST', '/suppressions', { recipient: 'not an address' }, 422, /recipient/],
    ['POST', '/keys', { label: 'x', grants: ['root'] }, 422, /grants/],
    ['DELETE', '/keys/0000000000000000', undefined, 404, /no API key/],
    ['GET', '/bounces?from=yesterday', undefined, 422, /from/],
  ];
  for (const [method, where, body, status, problem] of cases) {
    const response =
      method === 'GET'
        ? await request('GET', `/console/api${where}`, { session })
        : await act(method, where, session, body);
    const text = await response.text();
    assert.equal(response.status, status, `${method} ${where}: ${text}`);
    assert.match(text, /^\{"errors":\[\{"message"/, `${method} ${where}: SparkPost's shape`);
    assert.match(text, problem, `${method} ${where}`);
  }
  const huge = await act('POST', '/suppressions', session, {
    recipient: 'a@b.example',
    description: 'x'.repeat(70_000),
  });
  assert.equal(huge.status, 413);
  assert.equal((await request('GET', '/healthz')).status, 200);
});
