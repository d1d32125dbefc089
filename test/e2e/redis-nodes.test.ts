/**
 * Two `sluice serve` nodes sharing one real redis-server (store.backend=redis), each with its own
 * data dir and spool, relaying to one recording sink: a key created with the CLI on node A's
 * configuration authenticates on node B at once (unknown keys are never cached), and a key
 * deleted on B fails on A within smtp.key_cache (500 ms here); messages injected on each node produce events that are found by searching through
 * either node's configuration.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  createKey,
  nodemailerSend,
  nodemailerVerify,
  queuedId,
  searchEvents,
  sluiceCli,
} from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let redis: RedisServer;
let sink: Sink;
let nodeA: SluiceProcess;
let nodeB: SluiceProcess;
let storeArgs: string[];
const KEY_CACHE_MS = 500;

before(async () => {
  redis = await startRedis();
  sink = await startSink();
  const overrides = {
    'store.backend': 'redis',
    'store.redis.url': redis.url,
    'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
    'smtp.auth_failure_delay': '100ms',
    'smtp.key_cache': `${KEY_CACHE_MS}ms`,
  };
  storeArgs = ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`];
  [nodeA, nodeB] = await Promise.all([startSluice({ overrides }), startSluice({ overrides })]);
});

after(async () => {
  for (const node of [nodeA, nodeB]) {
    await node?.stop();
    if (node) rmSync(node.dataDir, { recursive: true, force: true });
  }
  await sink?.stop();
  await redis?.stop();
});

function auth(node: SluiceProcess, key: string) {
  return nodemailerVerify({
    port: node.submissionPort,
    requireTLS: true,
    auth: { user: 'SMTP_Injection', pass: key },
  });
}

test('a key created through node A authenticates on node B at once; deleted on B, it fails on A within smtp.key_cache', async () => {
  const key = await createKey(nodeA.dataDir, { label: 'shared', extraArgs: storeArgs });
  const onB = await auth(nodeB, key.key);
  assert.equal(onB.ok, true, `AUTH on node B: ${onB.response}`);
  assert.equal((await auth(nodeA, key.key)).ok, true);

  const deleted = await sluiceCli([
    'keys',
    'delete',
    key.id,
    '-o',
    `data_dir=${nodeB.dataDir}`,
    ...storeArgs,
  ]);
  assert.equal(deleted.code, 0, deleted.stderr);
  // Node A saw the key a moment ago: its cached record goes after the bound (plus a margin).
  await new Promise((resolve) => setTimeout(resolve, KEY_CACHE_MS + 250));
  const refused = await auth(nodeA, key.key);
  assert.equal(refused.ok, false);
  assert.match(refused.response, /^535 5\.7\.8 /);
});

test('events written on both nodes are found through either', async () => {
  const ids: string[] = [];
  for (const node of [nodeA, nodeB]) {
    const sent = await nodemailerSend({
      port: node.smtpPort,
      from: 'app@example.com',
      to: [`both-${node.smtpPort}@nodes.example`],
      raw: `From: app@example.com\r\nTo: x@nodes.example\r\nSubject: from ${node.smtpPort}\r\n\r\nhello\r\n`,
    });
    assert.equal(sent.ok, true, sent.response);
    ids.push(queuedId(sent.response)!);
  }
  for (const node of [nodeA, nodeB]) {
    for (const id of ids) {
      const events = await waitFor(
        async () => {
          const found = await searchEvents<{ type: string }>(node.dataDir, { messageId: id }, storeArgs);
          return found.some((e) => e.type === 'delivery') ? found : null;
        },
        20_000,
        `delivery event of ${id} through ${node.dataDir}`,
      );
      assert.deepEqual(events?.map((e) => e.type).sort(), ['delivery', 'injection']);
    }
  }
  assert.equal(sink.messages.length >= 2, true);
});
