/**
 * `sluice policy` on a real redis-server caches key records for policy.key_cache: a key deleted
 * through the CLI (as on another node) is refused once that bound has passed, without a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createKey, sluiceCli } from '../harness/clients.js';
import { PolicyClient, rcpt } from '../harness/policy-client.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';

const TTL_MS = 1000;
const REJECTED = 'REJECT 5.7.1 revoked';
let dir: string;
let redis: RedisServer;
let policy: SluiceService;
let storeArgs: string[];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-policy-key-cache-'));
  redis = await startRedis();
  storeArgs = ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`];
  policy = await startSluiceService('policy', {
    dataDir: path.join(dir, 'node'),
    overrides: {
      'store.backend': 'redis',
      'store.redis.url': redis.url,
      'policy.key_cache': '1s',
      'policy.key_rejected_action': REJECTED,
    },
  });
});

after(async () => {
  await policy?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a key revoked on another node is refused by the policy service within policy.key_cache', async () => {
  const key = await createKey(path.join(dir, 'cli'), { label: 'cached', extraArgs: storeArgs });
  const client = await PolicyClient.connect(policy.port);
  try {
    assert.equal(await client.ask(rcpt('t1', key.id)), 'action=DUNNO');
    const deleted = await sluiceCli([
      'keys',
      'delete',
      key.id,
      '-o',
      `data_dir=${path.join(dir, 'cli')}`,
      ...storeArgs,
    ]);
    assert.equal(deleted.code, 0, deleted.stderr);
    // The bound, plus a margin for the CLI's own exit: after it the cached record must be gone.
    await new Promise((resolve) => setTimeout(resolve, TTL_MS + 250));
    assert.equal(await client.ask(rcpt('t2', key.id)), `action=${REJECTED}`);
  } finally {
    client.end();
  }
});
