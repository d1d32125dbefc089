/**
 * Runs the store contracts against a real three-master Redis Cluster (store.redis.cluster): the
 * hash tags in the key names keep every multi-key script and pipeline of an area on one slot, so
 * the adapters work unchanged on a Cluster (the webhook batch stream and its consumer group too).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { openStores } from '../../src/store/open.js';
import { createRedisClient, KeyNames, type RedisClient, waitReady } from '../../src/store/redis/client.js';
import { RedisCounterStore } from '../../src/store/redis/counters.js';
import { RedisKeyStore } from '../../src/store/redis/keys.js';
import { RedisSuppressionStore } from '../../src/store/redis/suppressions.js';
import { RedisWebhookStore } from '../../src/store/redis/webhooks.js';
import type { Stores } from '../../src/store/types.js';
import { type RedisCluster, startRedisCluster } from '../harness/redis-cluster.js';
import { counterContract } from './counters.contract.js';
import { eventContract } from './events.contract.js';
import { keyContract } from './keys.contract.js';
import { suppressionContract } from './suppressions.contract.js';
import { webhookContract } from './webhooks.contract.js';

let cluster: RedisCluster;
const clients: RedisClient[] = [];
const stores: Stores[] = [];
const dirs: string[] = [];
let prefixes = 0;

before(async () => {
  cluster = await startRedisCluster();
});
after(async () => {
  for (const s of stores) await s.close();
  for (const c of clients) c.disconnect();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await cluster?.stop();
});

const overrides = (prefix: string) => [
  'store.backend=redis',
  `store.redis.cluster=[${cluster.seeds.join(',')}]`,
  `store.redis.key_prefix=${prefix}`,
];

async function client(prefix: string): Promise<RedisClient> {
  const c = createRedisClient(loadConfig({ overrides: overrides(prefix) }).store.redis);
  clients.push(c);
  await waitReady(c, 10_000);
  return c;
}

const fresh = () => `c${++prefixes}:`;

keyContract('redis cluster', async () => {
  const prefix = fresh();
  const names = new KeyNames(prefix);
  const server = new RedisKeyStore(await client(prefix), names);
  const cli = new RedisKeyStore(await client(prefix), names);
  return {
    server,
    cli,
    // The records as stored (the contract checks the hash is there and the secret is not).
    async bytes() {
      const records = await cli.list();
      return Buffer.from(JSON.stringify(records));
    },
    async close() {},
  };
});

counterContract('redis cluster', async (clock) => {
  const prefix = fresh();
  return new RedisCounterStore(await client(prefix), new KeyNames(prefix), clock);
});

suppressionContract('redis cluster', async () => {
  const prefix = fresh();
  return new RedisSuppressionStore(await client(prefix), new KeyNames(prefix));
});

eventContract('redis cluster', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cluster-events-'));
  dirs.push(dir);
  const opened = await openStores(loadConfig({ overrides: [`data_dir=${dir}`, ...overrides(fresh())] }));
  stores.push(opened);
  return opened.events;
});

// The batch stream, its consumer group and the batch hashes share the {wh} slot.
webhookContract('redis cluster', async () => {
  const prefix = fresh();
  return new RedisWebhookStore(await client(prefix), new KeyNames(prefix));
});
