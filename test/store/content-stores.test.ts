/**
 * Runs the template, recipient list and transmission store contracts against the embedded
 * adapter and the Redis one (real redis-server), and the claim race only a shared store has: two
 * nodes claiming at once each get a due transmission at most once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type Database from 'better-sqlite3';
import { loadConfig } from '../../src/config/index.js';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedRecipientListStore, EmbeddedTemplateStore } from '../../src/store/embedded/templates.js';
import { EmbeddedTransmissionStore } from '../../src/store/embedded/transmissions.js';
import { createRedisClient, KeyNames, type RedisClient } from '../../src/store/redis/client.js';
import { RedisRecipientListStore, RedisTemplateStore } from '../../src/store/redis/templates.js';
import { RedisTransmissionStore } from '../../src/store/redis/transmissions.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { recipientListContract, templateContract } from './templates.contract.js';
import { transmission, transmissionContract } from './transmissions.contract.js';

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

function database(): Database.Database {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-content-'));
  dirs.push(dir);
  const db = openDatabase(dir);
  dbs.push(db);
  return db;
}

function redisClient(prefix: string): { client: RedisClient; names: KeyNames } {
  const config = loadConfig({
    overrides: [`store.redis.url=${redis.url}`, `store.redis.key_prefix=${prefix}`],
  });
  const client = createRedisClient(config.store.redis);
  clients.push(client);
  return { client, names: new KeyNames(prefix) };
}

const redisStore = <T>(make: (client: RedisClient, names: KeyNames) => T) => {
  const { client, names } = redisClient(`c${++prefixes}:`);
  return make(client, names);
};

templateContract('embedded', async () => new EmbeddedTemplateStore(database()));
templateContract('redis', async () => redisStore((c, n) => new RedisTemplateStore(c, n)));
recipientListContract('embedded', async () => new EmbeddedRecipientListStore(database()));
recipientListContract('redis', async () => redisStore((c, n) => new RedisRecipientListStore(c, n)));
transmissionContract('embedded', async () => new EmbeddedTransmissionStore(database()));
transmissionContract('redis', async () => redisStore((c, n) => new RedisTransmissionStore(c, n, 86_400_000)));

test('redis: two nodes claiming at once get each due transmission once', async () => {
  const prefix = `c${++prefixes}:`;
  const a = redisClient(prefix);
  const b = redisClient(prefix);
  const nodeA = new RedisTransmissionStore(a.client, a.names, 86_400_000);
  const nodeB = new RedisTransmissionStore(b.client, b.names, 86_400_000);
  const start = Date.parse(transmission('x').start_time!);
  for (let i = 0; i < 40; i++) await nodeA.insert(transmission(`t${i}`), '{}');
  const [ca, cb] = await Promise.all([
    nodeA.claimDue(start, start + 60_000, 30),
    nodeB.claimDue(start, start + 60_000, 30),
  ]);
  const ids = [...ca, ...cb].map((t) => t.id);
  assert.equal(ids.length, 40);
  assert.equal(new Set(ids).size, 40, 'no transmission claimed by both');
});
