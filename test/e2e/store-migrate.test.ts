/**
 * `sluice store migrate --from embedded --to redis` on a real redis-server: keys created on the
 * embedded store (with the CLI) and suppressions move over; the moved keys authenticate against
 * Redis with the secrets the user already has; suppressions keep their fields and `created`;
 * templates, recipient lists and a scheduled transmission (with its request) move too; a second
 * run copies nothing twice; bad backend names are usage errors.
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
    templates_copied: 0,
    templates_present: 0,
    lists_copied: 0,
    lists_present: 0,
    transmissions_copied: 0,
    transmissions_present: 0,
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

test('templates, recipient lists and scheduled transmissions move too, once', async () => {
  const own = mkdtempSync(path.join(tmpdir(), 'sluice-migrate-content-'));
  const embedded = openEmbeddedStores({ data_dir: own });
  const now = '2026-03-01T00:00:00.000Z';
  const version = {
    name: 'n',
    description: '',
    content: { from: 'a@b.example', subject: 's', text: 't' },
    options: {},
    updated: now,
  };
  await embedded.templates.insert({
    id: 'tpl',
    draft: version,
    published: null,
    published_version: 0,
    last_update_time: now,
    last_use: null,
  });
  const meta = {
    id: 'list',
    name: 'list',
    description: '',
    attributes: {},
    total_accepted_recipients: 1,
    created: now,
    updated: now,
  };
  await embedded.recipientLists.insert(meta, [{ address: 'a@b.example', substitution_data: { x: 1 } }]);
  const record = {
    id: '42',
    state: 'submitted' as const,
    name: '',
    description: '',
    campaign_id: 'c',
    template_id: 'tpl',
    use_draft_template: true,
    recipient_list_id: 'list',
    start_time: '2026-03-02T00:00:00.000Z',
    created: now,
    num_rcpts: 1,
    num_generated: 0,
    num_failed_gen: 0,
    progress: 0,
    generation_start_time: null,
    generation_end_time: null,
    metadata: {},
    substitution_data: {},
    options: {},
  };
  await embedded.transmissions.insert(record, '{"the":"request"}');
  await embedded.transmissions.insert({ ...record, id: '43', state: 'Success', start_time: null }, null);
  await embedded.close();
  const migrate = () =>
    sluiceCli([
      'store',
      'migrate',
      '--from',
      'embedded',
      '--to',
      'redis',
      '--json',
      '-o',
      `data_dir=${own}`,
      '-o',
      `store.redis.url=${redis.url}`,
      '-o',
      'store.redis.key_prefix=content:',
    ]);
  const first = await migrate();
  assert.equal(first.code, 0, first.stderr);
  const counts = JSON.parse(first.stdout);
  assert.deepEqual(
    [counts.templates_copied, counts.lists_copied, counts.transmissions_copied],
    [1, 1, 1],
    'finished transmissions stay behind',
  );
  const shared = await openStores(
    loadConfig({
      overrides: [
        `data_dir=${own}`,
        'store.backend=redis',
        `store.redis.url=${redis.url}`,
        'store.redis.key_prefix=content:',
      ],
    }),
  );
  try {
    assert.equal((await shared.templates.get('tpl'))?.draft?.content.subject, 's');
    assert.deepEqual(await shared.recipientLists.recipients('list'), [
      { address: 'a@b.example', substitution_data: { x: 1 } },
    ]);
    assert.deepEqual(await shared.transmissions.get('42'), record);
    assert.equal(await shared.transmissions.request('42'), '{"the":"request"}');
    assert.equal(await shared.transmissions.get('43'), null);
  } finally {
    await shared.close();
  }
  const again = JSON.parse((await migrate()).stdout);
  assert.deepEqual(
    [again.templates_present, again.lists_present, again.transmissions_present, again.transmissions_copied],
    [1, 1, 1, 0],
  );
  rmSync(own, { recursive: true, force: true });
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
