/**
 * `sluice store migrate --from embedded --to redis` on a real redis-server: keys created on the
 * embedded store (with the CLI) and suppressions move over; the moved keys authenticate against
 * Redis with the secrets the user already has; suppressions keep their fields and `created`; a
 * second run copies nothing twice; bad backend names are usage errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { KeyService } from '../../src/core/keys.js';
import { openEmbeddedStores, openStores } from '../../src/store/open.js';
import type { SuppressionRecord } from '../../src/store/types.js';
import { createKey, sluiceCli } from '../harness/clients.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

let dir: string;
let redis: RedisServer;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-migrate-'));
  redis = await startRedis();
});

after(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const suppression = (recipient: string, type: SuppressionRecord['type']): SuppressionRecord => ({
  recipient,
  type,
  source: 'Bounce Rule',
  description: 'hard bounce',
  created: '2026-01-02T03:04:05.000Z',
  updated: '2026-02-02T03:04:05.000Z',
});

test('keys and suppressions move from embedded to redis; the old secrets authenticate there', async () => {
  const a = await createKey(dir, { label: 'one' });
  const b = await createKey(dir, { label: 'two', grants: ['smtp/inject', 'message_events/view'] });
  const embedded = openEmbeddedStores({ data_dir: dir });
  await embedded.suppressions.put([
    suppression('gone@example.com', 'transactional'),
    suppression('gone@example.com', 'non_transactional'),
    ...Array.from({ length: 1500 }, (_, i) => suppression(`s${i}@bulk.example`, 'non_transactional')),
  ]);
  await embedded.close();

  const migrate = (...more: string[]) =>
    sluiceCli([
      'store',
      'migrate',
      '--from',
      'embedded',
      '--to',
      'redis',
      '--json',
      '-o',
      `data_dir=${dir}`,
      '-o',
      `store.redis.url=${redis.url}`,
      ...more,
    ]);
  const first = await migrate();
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(JSON.parse(first.stdout), {
    from: 'embedded',
    to: 'redis',
    keys_copied: 2,
    keys_present: 0,
    suppressions: 1502,
  });

  const config = loadConfig({
    overrides: [`data_dir=${dir}`, 'store.backend=redis', `store.redis.url=${redis.url}`],
  });
  const shared = await openStores(config);
  try {
    const keys = new KeyService(shared.keys);
    assert.equal((await keys.authenticate(a.key, '127.0.0.1', 'smtp/inject')).ok, true);
    const viewer = await keys.authenticate(b.key, '127.0.0.1', 'message_events/view');
    assert.equal(viewer.ok && viewer.key.label, 'two');
    assert.deepEqual(await shared.suppressions.get('gone@example.com'), [
      suppression('gone@example.com', 'non_transactional'),
      suppression('gone@example.com', 'transactional'),
    ]);
    assert.equal(
      (await shared.suppressions.list({ search: '@bulk.example', limit: 10_000 })).records.length,
      1500,
    );
  } finally {
    await shared.close();
  }

  const again = await migrate();
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).keys_present, 2);
  assert.equal(JSON.parse(again.stdout).keys_copied, 0);
});

test('backend names are checked', async () => {
  for (const args of [
    ['--from', 'embedded', '--to', 'embedded'],
    ['--from', 'sqlite', '--to', 'redis'],
    ['--to', 'redis'],
  ]) {
    const result = await sluiceCli(['store', 'migrate', ...args, '-o', `data_dir=${dir}`]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /--from|--to/);
  }
});
