/**
 * Two `sluice policy` processes sharing one real redis-server: a limit of 100 messages a minute
 * per API key holds across both under concurrent requests (20 connections over the two, 300
 * transactions in all): exactly 100 are let through, the rest get the over-limit action. Then,
 * with Redis killed, each process answers with its configured store_unavailable behaviour (defer
 * on one, dunno on the other) instead of hanging, and both decide normally again once Redis is back
 * on the same port, without a restart; the change of state is logged once each way.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createKey } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { eom, PolicyClient, rcpt } from '../harness/policy-client.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';

const OVER = 'DEFER_IF_PERMIT 4.7.1 over the limit';
let dir: string;
let redis: RedisServer;
let policies: SluiceService[] = [];
let storeArgs: string[];
let keyId: string;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-policy-redis-'));
  redis = await startRedis();
  const config = path.join(dir, 'sluice.yaml');
  writeFileSync(
    config,
    [
      'store:',
      '  backend: redis',
      '  redis:',
      `    url: ${redis.url}`,
      '    command_timeout: 500ms',
      'policy:',
      `  over_limit_action: "${OVER}"`,
      '  limits:',
      '    key:',
      '      - { window: 1m, messages: 100 }',
      '',
    ].join('\n'),
  );
  storeArgs = ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`];
  keyId = (await createKey(path.join(dir, 'cli'), { label: 'limited', extraArgs: storeArgs })).id;
  policies = await Promise.all(
    (['defer', 'dunno'] as const).map((behaviour, i) =>
      startSluiceService('policy', {
        dataDir: path.join(dir, `node${i}`),
        configFile: config,
        overrides: { 'policy.store_unavailable': behaviour },
      }),
    ),
  );
});

after(async () => {
  for (const p of policies) await p.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('100 messages a minute per key hold across two policy processes: exactly 100 accepted', async () => {
  const clients = await Promise.all(
    Array.from({ length: 20 }, (_, i) => PolicyClient.connect(policies[i % 2]!.port)),
  );
  let accepted = 0;
  let refused = 0;
  await Promise.all(
    clients.map(async (client, c) => {
      for (let t = 0; t < 15; t++) {
        const instance = `c${c}-t${t}`;
        const reply = await client.ask(rcpt(instance, keyId));
        if (reply === 'action=DUNNO') {
          accepted++;
          assert.equal(await client.ask(eom(instance, keyId, 1)), 'action=DUNNO');
        } else {
          assert.equal(reply, `action=${OVER}`);
          refused++;
        }
      }
      client.end();
    }),
  );
  assert.equal(accepted, 100);
  assert.equal(refused, 200);
});

test('Redis away: defer on one node, dunno on the other; back on the same port: decisions again', async () => {
  await redis.kill();
  const [deferNode, dunnoNode] = await Promise.all(policies.map((p) => PolicyClient.connect(p.port)));
  assert.match(await deferNode!.ask(rcpt('down-1', keyId)), /^action=DEFER_IF_PERMIT 4\.3\.0 /);
  assert.equal(await dunnoNode!.ask(rcpt('down-2', keyId)), 'action=DUNNO');

  await redis.start();
  // The keys were in a Redis without persistence: they are gone with it, as a crash would lose them.
  const back = (await createKey(path.join(dir, 'cli'), { label: 'after', extraArgs: storeArgs })).id;
  const reply = await waitFor(
    async () => {
      const r = await deferNode!.ask(rcpt('up-1', back));
      return r === 'action=DUNNO' ? r : null;
    },
    15_000,
    'the defer node deciding again',
  );
  assert.equal(reply, 'action=DUNNO');
  assert.equal(
    await dunnoNode!.ask(rcpt('up-2', 'ffffffffffffffff')),
    'action=REJECT 5.7.1 API key not valid for SMTP injection',
  );
  deferNode!.end();
  dunnoNode!.end();
  for (const p of policies) {
    const lines = p.output().split('\n');
    assert.equal(lines.filter((l) => l.includes('"redis unavailable"')).length, 1, p.output());
    assert.equal(
      lines.filter((l) => l.includes('"redis available"')).length,
      2,
      'at start and after recovery',
    );
  }
});
