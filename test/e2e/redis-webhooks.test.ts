/**
 * Webhooks with two `sluice serve` nodes sharing one real redis-server: a webhook created through
 * node A's API is used by node B too; messages injected on both nodes reach the receiver as
 * batches, every event exactly once and every accepted batch id once, although both nodes poll
 * the shared batch queue.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { apiClient, type Json } from '../harness/api-client.js';
import { createKey, nodemailerSend } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let redis: RedisServer;
let sink: Sink;
let nodes: SluiceProcess[] = [];
let receiver: http.Server;
let receiverUrl: string;
const batches: Array<{ id: string; body: string }> = [];

before(async () => {
  redis = await startRedis();
  sink = await startSink();
  receiver = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      batches.push({
        id: String(request.headers['x-messagesystems-batch-id'] ?? ''),
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  const overrides = {
    'store.backend': 'redis',
    'store.redis.url': redis.url,
    'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
    'webhooks.batch_interval': '100ms',
    // The receiver is on loopback, which webhook targets may not be by default (SSRF guard).
    'webhooks.allow_private_targets': true,
  };
  nodes = await Promise.all([startSluice({ overrides }), startSluice({ overrides })]);
});

after(async () => {
  for (const node of nodes) {
    await node.stop();
    rmSync(node.dataDir, { recursive: true, force: true });
  }
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
  await sink?.stop();
  await redis?.stop();
});

test('a webhook made on node A gets the events of both nodes, each once', async () => {
  const [nodeA, nodeB] = nodes as [SluiceProcess, SluiceProcess];
  const key = await createKey(nodeA.dataDir, {
    grants: ['webhooks/modify', 'webhooks/view'],
    extraArgs: ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`],
  });
  const created = await apiClient(nodeA.httpPort, key.key)('POST', '/api/v1/webhooks', {
    name: 'shared',
    target: receiverUrl,
    events: ['injection', 'delivery'],
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const testBatches = batches.length;
  // Node B re-reads the webhook list within seconds; give it that before injecting there.
  await new Promise((resolve) => setTimeout(resolve, 6_000));

  const recipients: string[] = [];
  for (let i = 0; i < 10; i++) {
    const node = i % 2 ? nodeB : nodeA;
    const to = `hook${i}@nodes.example`;
    recipients.push(to);
    const sent = await nodemailerSend({
      port: node.smtpPort,
      from: 'app@example.com',
      to: [to],
      raw: `From: app@example.com\r\nTo: ${to}\r\nSubject: hook ${i}\r\n\r\nhi\r\n`,
    });
    assert.equal(sent.ok, true, sent.response);
  }
  const events = () =>
    batches
      .slice(testBatches)
      .flatMap((b) => JSON.parse(b.body) as Json[])
      .map((e) => e.msys.message_event);
  await waitFor(
    () => recipients.every((r) => events().some((e) => e.rcpt_to === r && e.type === 'delivery')),
    30_000,
    'a delivery event for every recipient',
  );
  const all = events();
  for (const r of recipients)
    assert.deepEqual(
      all
        .filter((e) => e.rcpt_to === r)
        .map((e) => e.type)
        .sort(),
      ['delivery', 'injection'],
      r,
    );
  assert.equal(new Set(all.map((e) => e.event_id)).size, all.length, 'no event twice');
  assert.equal(new Set(batches.map((b) => b.id)).size, batches.length, 'no batch twice');
});
