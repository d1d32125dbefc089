/**
 * Runs the WebhookStore contract against the embedded adapter and the Redis one (real
 * redis-server), and specifies what only the shared store adds: two nodes polling `due` at once
 * each get a batch at most once (a claim), and a claimed batch nobody finished is offered again
 * once its lease runs out (a node died mid-attempt).
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

test('redis: two nodes polling at once get each due batch once; an unfinished claim comes back after its lease', async () => {
  const prefix = `wh${++prefixes}:`;
  const nodeA = redisStore(prefix, 200);
  const nodeB = redisStore(prefix, 200);
  await nodeA.insert({
    id: 'w',
    name: 'w',
    target: 'http://127.0.0.1:9/',
    events: [],
    auth_type: 'none',
    auth_credentials: null,
    secret: 'x',
    active: true,
    created: '',
    updated: '',
  });
  for (let i = 0; i < 50; i++)
    await nodeA.enqueue({ id: `b${i}`, webhook_id: 'w', payload: '[]', created: 0, due: i, attempts: 0 });
  const now = Date.now();
  const [a, b] = await Promise.all([nodeA.due(now, 40), nodeB.due(now, 40)]);
  const ids = [...a, ...b].map((x) => x.id);
  assert.equal(ids.length, 50);
  assert.equal(new Set(ids).size, 50, 'no batch handed to both nodes');
  // Node A "dies" holding its batches; after the lease node B gets them.
  for (const x of b) await nodeB.remove(x.id);
  assert.deepEqual(await nodeB.due(now, 100), [], 'still leased');
  const reclaimed = await nodeB.due(now + 1000, 100);
  assert.deepEqual(reclaimed.map((x) => x.id).sort(), a.map((x) => x.id).sort());
});
