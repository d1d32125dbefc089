/**
 * Specifies the dispatcher of a node that starts while its Redis is away: events recorded before
 * the webhook list could ever be read are held, not dropped, and once a real redis-server appears
 * again on the configured port (holding the webhook) they reach the receiver in a batch, each once.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import type { SluiceEvent } from '../../src/core/events.js';
import { createLogger } from '../../src/log.js';
import { createRedisClient, KeyNames, type RedisClient } from '../../src/store/redis/client.js';
import { RedisWebhookStore } from '../../src/store/redis/webhooks.js';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.js';
import { freePort, waitFor } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

const clients: RedisClient[] = [];
let redis: RedisServer | null = null;
let receiver: http.Server | null = null;
let dispatcher: WebhookDispatcher | null = null;

after(async () => {
  await dispatcher?.stop();
  for (const client of clients) client.disconnect();
  await redis?.stop();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
});

function store(port: number): RedisWebhookStore {
  const config = loadConfig({
    overrides: [
      `store.redis.url=redis://127.0.0.1:${port}`,
      'store.redis.command_timeout=300ms',
      'store.redis.connect_timeout=300ms',
    ],
  });
  const client = createRedisClient(config.store.redis);
  client.on('error', () => {});
  clients.push(client);
  return new RedisWebhookStore(client, new KeyNames('late:'));
}

const event = (n: number) =>
  ({ type: 'injection', message_id: `m${n}`, rcpt_to: `r${n}@example.test` }) as SluiceEvent;

test('events offered before the store first answers are held, then sent once it does', async () => {
  const posted: { msys: { message_event: { message_id: string } } }[] = [];
  receiver = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      posted.push(...JSON.parse(body));
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
  const target = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;

  // The webhook is written first and Redis then killed, so whenever the dispatcher's client
  // first reaches Redis the webhook is already there (inserting it after a restart would race
  // the dispatcher's first read of the list).
  const port = await freePort();
  redis = await startRedis({ port, persistent: true });
  const now = new Date().toISOString();
  await store(port).insert({
    id: 'late-hook',
    name: 'late',
    target,
    events: [],
    auth_type: 'none',
    auth_credentials: null,
    secret: 's',
    active: true,
    created: now,
    updated: now,
  });
  await redis.kill();

  dispatcher = new WebhookDispatcher(
    store(port),
    {
      batchIntervalMs: 100,
      maxBatch: 100,
      retrySchedule: [100],
      maxAgeMs: 60_000,
      timeoutMs: 2_000,
      allowPrivateTargets: true,
    },
    createLogger('silent'),
  );
  await dispatcher.start(); // Redis is not there: the list cannot be read.
  for (let n = 0; n < 5; n++) dispatcher.offer(event(n));

  await redis.start(); // it comes back holding the webhook, from its append-only file
  await waitFor(() => posted.length >= 5, 20_000, 'the held events posted');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(posted.map((entry) => entry.msys.message_event.message_id).sort(), [
    'm0',
    'm1',
    'm2',
    'm3',
    'm4',
  ]);
});
