/**
 * Runs every store contract (keys, counters, suppressions, events, metrics) against the Redis adapters on
 * a real redis-server started by the harness. Each opened store gets a key prefix of its own on
 * the one server, so the suites do not see each other's data.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { openStores } from '../../src/store/open.js';
import { createRedisClient, KeyNames, type RedisClient } from '../../src/store/redis/client.js';
import { RedisCounterStore } from '../../src/store/redis/counters.js';
import type { RedisEventStore } from '../../src/store/redis/events.js';
import { RedisKeyStore } from '../../src/store/redis/keys.js';
import { RedisMetricsStore } from '../../src/store/redis/metrics.js';
import { RedisSuppressionStore } from '../../src/store/redis/suppressions.js';
import type { Stores } from '../../src/store/types.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { counterContract } from './counters.contract.js';
import { eventContract } from './events.contract.js';
import { keyContract } from './keys.contract.js';
import { metricsContract } from './metrics.contract.js';
import { suppressionContract } from './suppressions.contract.js';

let redis: RedisServer;
const clients: RedisClient[] = [];
const stores: Stores[] = [];
const dirs: string[] = [];
let prefixes = 0;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const s of stores) await s.close();
  for (const c of clients) c.disconnect();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await redis.stop();
});

function redisConfig(prefix: string) {
  return loadConfig({
    overrides: [`store.backend=redis`, `store.redis.url=${redis.url}`, `store.redis.key_prefix=${prefix}`],
  }).store.redis;
}

function client(prefix: string): RedisClient {
  const c = createRedisClient(redisConfig(prefix));
  clients.push(c);
  return c;
}

const fresh = () => `t${++prefixes}:`;

keyContract('redis', async () => {
  const prefix = fresh();
  const names = new KeyNames(prefix);
  const server = client(prefix);
  const cli = client(prefix);
  return {
    server: new RedisKeyStore(server, names),
    cli: new RedisKeyStore(cli, names),
    // Every key and value under the prefix, hashes field by field.
    async bytes() {
      const parts: string[] = [];
      for (const key of await cli.keys(`${prefix}*`)) {
        parts.push(key);
        const type = await cli.type(key);
        if (type === 'string') parts.push((await cli.get(key)) ?? '');
        if (type === 'hash') parts.push(...Object.entries(await cli.hgetall(key)).flat());
        if (type === 'zset') parts.push(...(await cli.zrange(key, '0', '-1')));
      }
      return Buffer.from(parts.join('\n'));
    },
    async close() {},
  };
});

counterContract('redis', async (clock) => {
  const prefix = fresh();
  return new RedisCounterStore(client(prefix), new KeyNames(prefix), clock);
});

suppressionContract('redis', async () => {
  const prefix = fresh();
  return new RedisSuppressionStore(client(prefix), new KeyNames(prefix));
});

async function openEvents() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-redis-events-'));
  dirs.push(dir);
  const opened = await openStores(
    loadConfig({
      overrides: [
        `data_dir=${dir}`,
        'store.backend=redis',
        `store.redis.url=${redis.url}`,
        `store.redis.key_prefix=${fresh()}`,
      ],
    }),
  );
  stores.push(opened);
  return opened.events;
}

eventContract('redis', openEvents);

test('redis: prune trims the stream by the time events reached it (events.retention)', async () => {
  const events = await openEvents();
  const at = new Date().toISOString();
  for (let i = 0; i < 3; i++)
    events.append({
      type: 'open',
      event_id: `p${i}`,
      timestamp: at,
      message_id: 'pruned',
      rcpt_to: 'p@x.example',
    });
  assert.equal((await events.search({ messageId: 'pruned' })).length, 3);
  assert.equal(await events.prune?.(new Date(Date.now() - 3_600_000).toISOString()), 0);
  assert.equal(await events.prune?.(new Date(Date.now() + 60_000).toISOString()), 3);
  assert.deepEqual(await events.search({ messageId: 'pruned' }), []);
  assert.deepEqual(await events.search({ types: ['open'] }), []);
});

metricsContract('redis', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-redis-metrics-'));
  dirs.push(dir);
  const opened = await openStores(
    loadConfig({
      overrides: [
        `data_dir=${dir}`,
        'store.backend=redis',
        `store.redis.url=${redis.url}`,
        `store.redis.key_prefix=${fresh()}`,
      ],
    }),
  );
  stores.push(opened);
  const events = opened.events as RedisEventStore;
  return { events, metrics: opened.metrics, settle: () => events.flush() };
});

test('redis: a rollup chunk sent twice is counted once, and bucket hashes expire with their retention', async () => {
  const prefix = fresh();
  const names = new KeyNames(prefix);
  const c = client(prefix);
  const metrics = new RedisMetricsStore(c, names);
  const minute = Math.floor(Date.now() / 60_000);
  const chunk = [
    {
      type: 'delivery' as const,
      event_id: 'twice-1',
      timestamp: new Date(minute * 60_000).toISOString(),
      message_id: 'twice',
      rcpt_to: 'x@twice.example',
      num_retries: '0',
    },
  ];
  await metrics.applyEvents('seg-a:0', chunk);
  await metrics.applyEvents('seg-a:0', chunk);
  const total = await metrics.sum([{ res: 'minute', from: minute, to: minute + 1 }], 'total', 'none');
  assert.equal(total.get('')?.[1], 1, 'delivered once');
  const ttl = await c.pttl(`${names.base('mx')}r:1:${minute}`);
  assert.ok(ttl > 6 * 86_400_000 && ttl <= 7 * 86_400_000 + 120_000, `minute bucket TTL ${ttl}`);
  const hour = minute - (minute % 60);
  await metrics.compact((hour + 63) * 60_000);
  const folded = await metrics.sum([{ res: 'hour', from: hour, to: hour + 60 }], 'total', 'none');
  assert.equal(folded.get('')?.[1], 1, 'folded once');
  const dayTtl = await c.pttl(`${names.base('mx')}r:1440:${minute - (minute % 1440)}`);
  assert.ok(dayTtl > 179 * 86_400_000, `day bucket TTL ${dayTtl}`);
});
