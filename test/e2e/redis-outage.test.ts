/**
 * Redis killed mid-load and brought back on the same port, under two `sluice serve` nodes, each
 * taking its configured path while Redis is away. Node A (store.smtp_unavailable: cached_keys)
 * goes on accepting trusted injection with the suppression list unchecked (mail is spooled on its
 * disk, events wait in its outbox) and a key it has seen still authenticates; node B (defer)
 * answers 451 4.3.0 at RCPT (it cannot check the suppression list) and 454 4.7.0 at AUTH, and
 * the client's retry after recovery is accepted, so nothing is lost either way. A signed
 * click link still redirects and its event is kept; the outage is logged once and the recovery
 * once; and after recovery, with no restart, every accepted message is delivered and every one of
 * its events (injection, delivery, the click) is in Redis, found through either node.
 * Redis runs with an fsynced append-only file here, so what it held before the crash survives.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { loadTrackingKeys } from '../../src/tracking/keys.js';
import { TokenSigner } from '../../src/tracking/token.js';
import { createKey, nodemailerSend, nodemailerVerify, queuedId, searchEvents } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let redis: RedisServer;
let sink: Sink;
let nodeA: SluiceProcess;
let nodeB: SluiceProcess;
let storeArgs: string[];

before(async () => {
  redis = await startRedis({ persistent: true });
  sink = await startSink();
  const common = {
    'store.backend': 'redis',
    'store.redis.url': redis.url,
    'store.redis.command_timeout': '500ms',
    'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
    'smtp.auth_failure_delay': '100ms',
  };
  storeArgs = ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`];
  [nodeA, nodeB] = await Promise.all([
    startSluice({ overrides: { ...common, 'store.smtp_unavailable': 'cached_keys' } }),
    startSluice({ overrides: { ...common, 'store.smtp_unavailable': 'defer' } }),
  ]);
});

after(async () => {
  for (const node of [nodeA, nodeB]) {
    await node?.stop();
    if (node) rmSync(node.dataDir, { recursive: true, force: true });
  }
  await sink?.stop();
  await redis?.stop();
});

const auth = (node: SluiceProcess, key: string) =>
  nodemailerVerify({
    port: node.submissionPort,
    requireTLS: true,
    auth: { user: 'SMTP_Injection', pass: key },
  });

async function send(node: SluiceProcess, n: number): Promise<string> {
  const sent = await nodemailerSend({
    port: node.smtpPort,
    from: 'app@example.com',
    to: [`load-${n}@outage.example`],
    raw: `From: app@example.com\r\nTo: load-${n}@outage.example\r\nSubject: load ${n}\r\n\r\nmessage ${n}\r\n`,
  });
  assert.equal(sent.ok, true, `message ${n}: ${sent.response}`);
  return queuedId(sent.response)!;
}

test('Redis killed mid-load: each door takes its configured path, and after recovery nothing is lost', async () => {
  const key = await createKey(nodeA.dataDir, { label: 'cached', extraArgs: storeArgs });
  assert.equal((await auth(nodeA, key.key)).ok, true, 'node A has seen the key');
  assert.equal((await auth(nodeB, key.key)).ok, true);

  const accepted: string[] = [];
  let n = 0;
  for (; n < 10; n++) accepted[n] = await send(n % 2 ? nodeB : nodeA, n);

  await redis.kill();
  const deferredOnB: number[] = [];
  for (; n < 20; n++) {
    if (n % 2 === 0) {
      accepted[n] = await send(nodeA, n);
      continue;
    }
    const refused = await nodemailerSend({
      port: nodeB.smtpPort,
      from: 'app@example.com',
      to: [`load-${n}@outage.example`],
      raw: `From: app@example.com\r\nTo: load-${n}@outage.example\r\nSubject: load ${n}\r\n\r\nmessage ${n}\r\n`,
    });
    assert.equal(refused.ok, false);
    assert.match(refused.response, /^451 4\.3\.0 /, `message ${n} on node B while Redis is away`);
    deferredOnB.push(n);
  }

  assert.equal((await auth(nodeA, key.key)).ok, true, 'cached_keys: a key node A has seen authenticates');
  const deferred = await auth(nodeB, key.key);
  assert.equal(deferred.ok, false);
  assert.match(deferred.response, /^454 4\.7\.0 /);

  const signer = new TokenSigner((await loadTrackingKeys([], nodeA.dataDir)).keys, 86_400_000);
  const token = signer.sign({
    kind: 'click',
    messageId: accepted[12]!,
    rcpt: 'load-12@outage.example',
    linkIndex: 0,
    linkName: 'offer',
    url: 'https://shop.example/offer',
  });
  const click = await fetch(`http://127.0.0.1:${nodeA.httpPort}/f/${token}`, { redirect: 'manual' });
  assert.equal(click.status, 302);
  assert.equal(click.headers.get('location'), 'https://shop.example/offer');

  await redis.start();
  // The client retries what node B deferred, as any SMTP client does after a 4xx.
  for (const retry of deferredOnB)
    accepted[retry] = await waitFor(() => send(nodeB, retry).catch(() => ''), 15_000, `retry of ${retry}`);
  for (; n < 30; n++) accepted[n] = await send(n % 2 ? nodeB : nodeA, n);

  await waitFor(
    () => accepted.every((_, i) => sink.messages.some((m) => new RegExp(`message ${i}\r?\n`).test(m.text))),
    30_000,
    'every accepted message delivered',
  );
  for (const node of [nodeA, nodeB]) {
    const byMessage = await waitFor(
      async () => {
        const found = await searchEvents<{ type: string; message_id: string }>(node.dataDir, {}, storeArgs);
        const kinds = new Map<string, string[]>();
        for (const e of found) kinds.set(e.message_id, [...(kinds.get(e.message_id) ?? []), e.type].sort());
        return accepted.every((id) => kinds.get(id)?.includes('delivery')) ? kinds : null;
      },
      30_000,
      `every delivery event, through ${node.dataDir}`,
    );
    for (const [i, id] of accepted.entries())
      assert.deepEqual(
        byMessage?.get(id),
        i === 12 ? ['click', 'delivery', 'injection'] : ['delivery', 'injection'],
        `events of message ${i}`,
      );
  }
  for (const node of [nodeA, nodeB]) {
    const lines = node.output().split('\n');
    assert.equal(lines.filter((l) => l.includes('"redis unavailable"')).length, 1);
    assert.equal(
      lines.filter((l) => l.includes('"redis available"')).length,
      2,
      'at start and after recovery',
    );
  }
});
