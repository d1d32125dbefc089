/**
 * Specifies the operations endpoints of a real `sluice serve`, scraped over HTTP: /healthz and
 * /readyz answer 200 once it runs; /metrics (Prometheus text) counts deliveries, deferrals and
 * bounces by domain and bounce class, policy rejections, injections and their latency histogram,
 * and shows the queue depth by state and open outbound connections. /readyz is 503 when not ready
 * (a listener with ready() false). Unknown methods and paths are refused; the server stays up.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import Fastify from 'fastify';
import { NetworkSet } from '../../src/core/networks.js';
import { registerHealthRoutes } from '../../src/http/health-routes.js';
import { SluiceMetrics } from '../../src/metrics/metrics.js';
import { searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import { type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { waitFor, waitForPort } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: FaultSink;
let sluice: SluiceProcess;

before(async () => {
  sink = await startFaultSink((rcpt) => {
    if (rcpt.startsWith('nobody')) return { kind: 'reply', code: 550, text: '5.1.1 No such user' };
    if (rcpt.startsWith('slow')) return { kind: 'reply', code: 451, text: '4.3.0 Try again later' };
    return { kind: 'accept' };
  });
  sluice = await startSluice({
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, 'delivery.retry_schedule': '[1h]' },
  });
  // The harness waits for the SMTP port; the HTTP listener is bound just after it.
  await waitForPort(sluice.httpPort);
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

const url = (path: string) => `http://127.0.0.1:${sluice.httpPort}${path}`;

/** The value of one sample line, e.g. metric('sluice_bounces_total{domain="x",bounce_class="10"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function send(to: string) {
  const data = Buffer.from(`From: app@example.com\r\nSubject: metrics\r\n\r\nbody\r\n`);
  return await swaks({ port: sluice.smtpPort, from: 'app@example.com', to: [to], data });
}

test('healthz and readyz answer 200 on a running server', async () => {
  const health = await fetch(url('/healthz'));
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const ready = await fetch(url('/readyz'));
  assert.equal(ready.status, 200);
});

test('metrics count outcomes by domain and class, and show queue depth and latency', async () => {
  const ids = [];
  for (const to of ['ok@metrics.example', 'nobody@metrics.example', 'slow@metrics.example']) {
    const sent = await send(to);
    assert.ok(sent.queuedId, sent.stdout);
    ids.push(sent.queuedId);
  }
  for (const [id, type] of [
    [ids[0]!, 'delivery'],
    [ids[1]!, 'bounce'],
    [ids[2]!, 'delay'],
  ] as const)
    await waitFor(
      async () => (await searchEvents(sluice.dataDir, { messageId: id, type })).length > 0,
      20_000,
      type,
    );
  // The hard bounce suppressed nobody@: one more try is a policy rejection.
  const refused = await send('nobody@metrics.example');
  assert.equal(refused.queuedId, undefined);

  const text = await waitFor(async () => {
    const body = await (await fetch(url('/metrics'))).text();
    // The DSN to app@example.com is delivered too; wait for it so the figures are final.
    return sample(body, 'sluice_deliveries_total{domain="example.com"}') === 1 ? body : undefined;
  });
  const response = await fetch(url('/metrics'));
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.equal(sample(text!, 'sluice_deliveries_total{domain="metrics.example"}'), 1);
  assert.equal(sample(text!, 'sluice_bounces_total{domain="metrics.example",bounce_class="10"}'), 1);
  assert.equal(sample(text!, 'sluice_deferrals_total{domain="metrics.example",bounce_class="20"}'), 1);
  assert.equal(sample(text!, 'sluice_policy_rejections_total{error_code="550"}'), 1);
  assert.equal(sample(text!, 'sluice_queue_messages{state="deferred"}'), 1);
  assert.equal(sample(text!, 'sluice_queue_messages{state="held"}'), 0);
  assert.equal(sample(text!, 'sluice_injections_total'), 4, 'three messages and the DSN');
  assert.equal(sample(text!, 'sluice_inject_latency_seconds_count'), 3, 'SMTP injections only');
  assert.equal(sample(text!, 'sluice_inject_latency_seconds_bucket{le="+Inf"}'), 3);
  assert.ok(sample(text!, 'sluice_outbound_connections_open') !== undefined);
  // Everything is delivered: the connection to the sink is kept for reuse, none carries a message.
  assert.ok(
    (sample(text!, 'sluice_outbound_connections{state="idle"}') ?? 0) >= 1,
    'an idle connection kept',
  );
  assert.equal(sample(text!, 'sluice_outbound_connections{state="busy"}'), 0);
  assert.ok((sample(text!, 'sluice_outbound_hops') ?? 0) >= 1);
  assert.ok((sample(text!, 'sluice_process_resident_memory_bytes') ?? 0) > 0);

  const held = await sluiceCli(['queue', 'hold', ids[2]!, '-o', `data_dir=${sluice.dataDir}`]);
  assert.equal(held.code, 0, held.stderr);
  const after = await (await fetch(url('/metrics'))).text();
  assert.equal(sample(after, 'sluice_queue_messages{state="held"}'), 1);
  assert.equal(sample(after, 'sluice_queue_messages{state="deferred"}'), 0);
});

test('bad requests are refused and the server stays up', async () => {
  assert.equal((await fetch(url('/metrics'), { method: 'POST', body: 'x' })).status, 404);
  assert.equal((await fetch(url('/metrics/../../etc/passwd'))).status, 404);
  assert.equal((await fetch(url('/readyz?%ZZ'))).status, 200);
  assert.equal((await fetch(url('/healthz'))).status, 200);
});

test('readyz is 503 while the server is not ready', async () => {
  const app = Fastify();
  const metrics = new SluiceMetrics({ queueDepth: () => ({}), poolOpen: () => 0 });
  let ready = false;
  registerHealthRoutes(app, { metrics, ready: () => ready, networks: new NetworkSet(['127.0.0.0/8']) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const address = app.server.address() as { port: number };
    const readyz = `http://127.0.0.1:${address.port}/readyz`;
    assert.equal((await fetch(readyz)).status, 503);
    ready = true;
    assert.equal((await fetch(readyz)).status, 200);
  } finally {
    await app.close();
  }
});
