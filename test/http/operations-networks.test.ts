/**
 * Specifies who may read the operations endpoints: /metrics, /healthz and /readyz answer clients
 * in admin.http_networks and give everyone else the plain 404 of an unknown route, because the
 * same listener serves tracking links to the Internet. Behind a trusted proxy the client is the
 * X-Forwarded-For address, so a public visitor coming through the proxy is refused too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NetworkSet } from '../../src/core/networks.js';
import { type HttpServer, startHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { SluiceMetrics } from '../../src/metrics/metrics.js';
import { TokenSigner } from '../../src/tracking/token.js';

const signer = new TokenSigner([{ id: 'k1', secret: 'operations-test-secret' }], 3_600_000);
const events = {
  append() {},
  appendMany() {},
  search: async () => [],
  page: async () => ({ events: [], next: null }),
};
let loopbackOnly: HttpServer;
let privateOnly: HttpServer;
let proxied: HttpServer;

before(async () => {
  const log = createLogger('silent');
  const health = (cidrs: string[]) => ({
    metrics: new SluiceMetrics({ queueDepth: () => ({}), poolOpen: () => 0 }),
    ready: () => true,
    networks: new NetworkSet(cidrs),
  });
  const deps = (cidrs: string[]) => ({ signer, events: events as never, log, health: health(cidrs) });
  loopbackOnly = await startHttpServer({ listen: '127.0.0.1:0', trustedProxies: [] }, deps(['127.0.0.0/8']));
  privateOnly = await startHttpServer({ listen: '127.0.0.1:0', trustedProxies: [] }, deps(['10.0.0.0/8']));
  proxied = await startHttpServer(
    { listen: '127.0.0.1:0', trustedProxies: ['127.0.0.0/8'] },
    deps(['127.0.0.0/8', '10.0.0.0/8']),
  );
});

after(async () => {
  await Promise.all([loopbackOnly?.close(), privateOnly?.close(), proxied?.close()]);
});

const get = (server: HttpServer, path: string, headers: Record<string, string> = {}) =>
  fetch(`http://${server.address}${path}`, { headers });

test('a client inside admin.http_networks reads metrics and health', async () => {
  const metrics = await get(loopbackOnly, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^# HELP /m);
  assert.equal((await get(loopbackOnly, '/healthz')).status, 200);
  assert.equal((await get(loopbackOnly, '/readyz')).status, 200);
});

test('a client outside gets the 404 of an unknown route, with no metrics in it', async () => {
  for (const path of ['/metrics', '/healthz', '/readyz']) {
    const response = await get(privateOnly, path);
    assert.equal(response.status, 404, path);
    const body = await response.text();
    assert.doesNotMatch(body, /# HELP|status/, path);
    const unknown = await get(privateOnly, '/no-such-route');
    assert.equal(body, (await unknown.text()).replace('/no-such-route', path), 'shaped as an unknown route');
  }
});

test('behind a trusted proxy the forwarded client address decides', async () => {
  assert.equal((await get(proxied, '/metrics', { 'x-forwarded-for': '203.0.113.9' })).status, 404);
  assert.equal((await get(proxied, '/metrics', { 'x-forwarded-for': '10.1.2.3' })).status, 200);
  assert.equal((await get(proxied, '/metrics')).status, 200, 'the proxy host itself is inside');
});
