/**
 * Runs the WebhookStore contract against the embedded adapter and the Redis one (real
 * redis-server), and specifies what only the shared store (a Redis Stream consumer group) adds: two
 * nodes polling `due` at once each get a batch at most once, and batches a consumer read and
 * never acknowledged (it crashed) are re-claimed by another once their lease runs out.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type Database from 'better-sqlite3';
import { loadConfig } from '../../src/config/index.js';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedWebhookStore } from '../../src/store/embedded/webhooks.js';
import { createRedisClient, KeyNames, type RedisClient } from '../../src/store/redis/client.js';
import { RedisWebhookStore } from '../../src/store/redis/webhooks.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { webhookContract } from './webhooks.contract.js';

let redis: RedisServer;
const clients: RedisClient[] = [];
const dbs: Database.Database[] = [];
const dirs: string[] = [];
let prefixes = 0;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const c of clients) c.disconnect();
  for (const db of dbs) db.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await redis.stop();
});

function redisStore(prefix: string, leaseMs = 60_000): RedisWebhookStore {
  const config = loadConfig({
    overrides: [`store.redis.url=${redis.url}`, `store.redis.key_prefix=${prefix}`],
  });
  const client = createRedisClient(config.store.redis);
  clients.push(client);
  return new RedisWebhookStore(client, new KeyNames(prefix), leaseMs);
}

webhookContract('embedded', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-webhooks-'));
  dirs.push(dir);
  const db = openDatabase(dir);
  dbs.push(db);
  return new EmbeddedWebhookStore(db);
});

webhookContract('redis', async () => redisStore(`wh${++prefixes}:`));

const hookRecord = {
  id: 'w',
  name: 'w',
  target: 'http://127.0.0.1:9/',
  events: [],
  auth_type: 'none' as const,
  auth_credentials: null,
  secret: 'x',
  active: true,
  created: '',
  updated: '',
};

test('redis: two consumers polling at once get each due batch once', async () => {
  const prefix = `wh${++prefixes}:`;
  const nodeA = redisStore(prefix);
  const nodeB = redisStore(prefix);
  assert.notEqual(nodeA.consumer, nodeB.consumer);
  await nodeA.insert(hookRecord);
  for (let i = 0; i < 50; i++)
    await nodeA.enqueue({ id: `b${i}`, webhook_id: 'w', payload: '[]', created: 0, due: i, attempts: 0 });
  const now = Date.now();
  const [a, b] = await Promise.all([nodeA.due(now, 40), nodeB.due(now, 40)]);
  const ids = [...a, ...b].map((x) => x.id);
  assert.equal(ids.length, 50);
  assert.equal(new Set(ids).size, 50, 'no batch handed to both consumers');
  for (const x of [...a, ...b]) await (a.includes(x) ? nodeA : nodeB).remove(x.id);
  assert.deepEqual([...(await nodeA.due(now, 100)), ...(await nodeB.due(now, 100))], []);
  assert.equal(await nodeA.pending('w'), 0);
});

test('redis: a consumer that crashes holding batches: another re-claims them after the lease and finishes them', async () => {
  const prefix = `wh${++prefixes}:`;
  const leaseMs = 300;
  const nodeA = redisStore(prefix, leaseMs);
  const nodeB = redisStore(prefix, leaseMs);
  await nodeA.insert(hookRecord);
  for (let i = 0; i < 5; i++)
    await nodeA.enqueue({ id: `c${i}`, webhook_id: 'w', payload: `[${i}]`, created: 0, due: i, attempts: 0 });
  // Node A reads every batch, then "crashes": it never acknowledges (removes or reschedules) them.
  const held = await nodeA.due(Date.now(), 100);
  assert.deepEqual(
    held.map((x) => x.id),
    ['c0', 'c1', 'c2', 'c3', 'c4'],
  );
  assert.deepEqual(await nodeB.due(Date.now(), 100), [], 'within the lease they stay with node A');
  // A node that is alive gets its own unacknowledged batches again (it may not have tried them all).
  assert.equal((await nodeA.due(Date.now(), 100)).length, 5);
  await new Promise((resolve) => setTimeout(resolve, leaseMs * 2));
  const reclaimed = await nodeB.due(Date.now(), 100);
  assert.deepEqual(
    reclaimed.map((x) => [x.id, x.payload]),
    held.map((x) => [x.id, x.payload]),
  );
  // Node B finishes them: one accepted, the others refused and rescheduled for a later attempt.
  await nodeB.remove('c0');
  for (const x of reclaimed.slice(1)) await nodeB.reschedule(x.id, 1, 10_000);
  assert.equal(await nodeB.pending('w'), 4);
  assert.deepEqual(await nodeB.due(5_000, 100), [], 'rescheduled batches wait for their new due time');
  const retried = await nodeB.due(Date.now(), 100);
  assert.deepEqual(
    retried.map((x) => [x.id, x.attempts]),
    [
      ['c1', 1],
      ['c2', 1],
      ['c3', 1],
      ['c4', 1],
    ],
  );
  for (const x of retried) await nodeB.remove(x.id);
  assert.equal(await nodeB.pending('w'), 0);
  assert.deepEqual(await nodeA.due(Date.now(), 100), [], 'nothing is left for the node that crashed');
});

test('redis: a batch removed while its entry is on the way is not handed out', async () => {
  const prefix = `wh${++prefixes}:`;
  const nodeA = redisStore(prefix);
  const nodeB = redisStore(prefix);
  await nodeA.insert(hookRecord);
  await nodeA.enqueue({ id: 'x', webhook_id: 'w', payload: '[]', created: 0, due: 0, attempts: 0 });
  assert.equal((await nodeA.due(Date.now(), 10)).length, 1);
  assert.equal(await nodeB.delete('w'), true);
  assert.deepEqual(await nodeA.due(Date.now(), 10), []);
});

test('redis: batches left in the earlier sorted-set layout are adopted by the stream', async () => {
  const prefix = `wh${++prefixes}:`;
  const node = redisStore(prefix);
  await node.insert(hookRecord);
  await node.enqueue({ id: 'old', webhook_id: 'w', payload: '[1]', created: 0, due: 5, attempts: 2 });
  // What the earlier adapter left behind: the batch scheduled in {wh}:due instead of {wh}:later.
  const raw = clients.at(-1)!;
  await raw.rename(`${prefix}{wh}:later`, `${prefix}{wh}:due`);
  const due = await node.due(Date.now(), 10);
  assert.deepEqual(
    due.map((b) => [b.id, b.attempts]),
    [['old', 2]],
  );
  await node.remove('old');
  assert.equal(await raw.exists(`${prefix}{wh}:due`), 0);
});
