/**
 * `sluice auth` (Postfix's SMTP AUTH in stage 0) on a shared Redis that goes away: with
 * store.smtp_unavailable=cached_keys a key this process has checked still authenticates; with
 * defer the answer is a temporary failure (Postfix replies 454 and the client retries), never a
 * permanent one; an unknown key is never let in. When Redis is back both answer from it again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AuthClient } from '../harness/auth-client.js';
import { createKey } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';

let dir: string;
let redis: RedisServer;
let cached: SluiceService;
let deferring: SluiceService;
let key: { id: string; key: string };

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-auth-redis-'));
  redis = await startRedis({ persistent: true });
  const store = {
    'store.backend': 'redis',
    'store.redis.url': redis.url,
    'store.redis.command_timeout': '500ms',
  };
  key = await createKey(path.join(dir, 'cli'), {
    extraArgs: ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`],
  });
  const started = await Promise.all(
    (['cached_keys', 'defer'] as const).map((mode, i) =>
      startSluiceService('auth', {
        dataDir: path.join(dir, `node${i}`),
        // auth.key_cache 0: every AUTH goes to the store, so what this specifies is the outage
        // answer, not the 2 s the key cache would answer for a key just seen.
        overrides: {
          ...store,
          'store.smtp_unavailable': mode,
          'auth.failure_delay': '10ms',
          'auth.key_cache': '0',
        },
      }),
    ),
  );
  [cached, deferring] = started as [SluiceService, SluiceService];
});

after(async () => {
  for (const s of [cached, deferring]) await s?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function ask(service: SluiceService, password: string) {
  const client = await AuthClient.connect(service.port);
  try {
    return await client.auth({ mechanism: 'PLAIN', user: 'SMTP_Injection', password });
  } finally {
    await client.close();
  }
}

test('Redis away: cached_keys still knows a seen key, defer fails temporarily; both recover', async () => {
  for (const service of [cached, deferring]) assert.equal((await ask(service, key.key)).verdict, 'OK');
  await redis.kill();

  assert.equal((await ask(cached, key.key)).verdict, 'OK');
  const unknown = await ask(cached, 'e'.repeat(40));
  assert.equal(unknown.verdict, 'FAIL');
  const deferred = await ask(deferring, key.key);
  assert.equal(deferred.verdict, 'FAIL');
  assert.equal(deferred.params['temp'], true, 'a temporary failure, not a wrong password');

  await redis.start();
  const back = await waitFor(
    async () => (await ask(deferring, key.key)).verdict === 'OK',
    15_000,
    'recovery',
  );
  assert.equal(back, true);
  assert.equal((await ask(cached, key.key)).verdict, 'OK');
});
