/**
 * Sentinel: one master, one replica and one sentinel (all redis-server, loopback ports), and a
 * `sluice serve` node that finds the master through the sentinel (store.redis.sentinels + name).
 * The master is killed; the sentinel promotes the replica; the node keeps working without a
 * restart: a key created before the failover (replicated) and one created after it authenticate,
 * and a message injected after it has its events in the new master.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { createKey, nodemailerSend, nodemailerVerify, queuedId, searchEvents } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const NAME = 'sluicemaster';
let master: RedisServer;
let replica: RedisServer;
let sentinel: RedisServer;
let sink: Sink;
let node: SluiceProcess;
let storeArgs: string[];

before(async () => {
  master = await startRedis();
  replica = await startRedis({ replicaOf: master.port });
  sentinel = await startRedis({ sentinelFor: { port: master.port, name: NAME } });
  const ask = new Redis({ port: sentinel.port, host: '127.0.0.1', lazyConnect: true });
  try {
    await ask.connect();
    await waitFor(
      async () => {
        const replicas = (await ask.call('SENTINEL', 'REPLICAS', NAME)) as string[][];
        return replicas.some((fields) => fields[fields.indexOf('flags') + 1] === 'slave');
      },
      30_000,
      'the sentinel to know the replica',
    );
  } finally {
    ask.disconnect();
  }
  sink = await startSink();
  const sentinels = `[127.0.0.1:${sentinel.port}]`;
  storeArgs = [
    '-o',
    'store.backend=redis',
    '-o',
    `store.redis.sentinels=${sentinels}`,
    '-o',
    `store.redis.name=${NAME}`,
  ];
  node = await startSluice({
    overrides: {
      'store.backend': 'redis',
      'store.redis.sentinels': sentinels,
      'store.redis.name': NAME,
      'store.redis.command_timeout': '1s',
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
    },
  });
});

after(async () => {
  await node?.stop();
  if (node) rmSync(node.dataDir, { recursive: true, force: true });
  await sink?.stop();
  for (const server of [sentinel, replica, master]) await server?.stop();
});

const auth = (key: string) =>
  nodemailerVerify({
    port: node.submissionPort,
    requireTLS: true,
    auth: { user: 'SMTP_Injection', pass: key },
  });

test('the node keeps working after the sentinel fails the master over to the replica', async () => {
  const before = await createKey(node.dataDir, { label: 'before', extraArgs: storeArgs });
  assert.equal((await auth(before.key)).ok, true);
  // The key must have reached the replica before the master dies (replication is asynchronous).
  const direct = new Redis({ port: master.port, host: '127.0.0.1' });
  await direct.call('WAIT', '1', '5000');
  direct.disconnect();

  await master.kill();
  const promoted = new Redis({ port: replica.port, host: '127.0.0.1' });
  try {
    await waitFor(
      async () => (await promoted.info('replication')).includes('role:master'),
      30_000,
      'promotion',
    );
  } finally {
    promoted.disconnect();
  }

  const ok = await waitFor(async () => (await auth(before.key)).ok, 30_000, 'AUTH through the new master');
  assert.equal(ok, true);
  const afterKey = await createKey(node.dataDir, { label: 'after', extraArgs: storeArgs });
  assert.equal((await auth(afterKey.key)).ok, true);

  const sent = await nodemailerSend({
    port: node.smtpPort,
    from: 'app@example.com',
    to: ['failover@sentinel.example'],
    raw: 'From: app@example.com\r\nTo: failover@sentinel.example\r\nSubject: after failover\r\n\r\nhi\r\n',
  });
  assert.equal(sent.ok, true, sent.response);
  const id = queuedId(sent.response)!;
  const events = await waitFor(
    async () => {
      const found = await searchEvents<{ type: string }>(node.dataDir, { messageId: id }, storeArgs);
      return found.some((e) => e.type === 'delivery') ? found : null;
    },
    30_000,
    'events after the failover',
  );
  assert.deepEqual(events?.map((e) => e.type).sort(), ['delivery', 'injection']);
});
