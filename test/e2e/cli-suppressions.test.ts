/**
 * Specifies `sluice suppressions list|add|remove` on a scratch data dir: add without --type
 * suppresses both types (source 'Manually Added'), list filters by type and search, remove lifts
 * one type or all, and bad input (not an address, unknown type, bad limit) exits 64 with a message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { sluiceCli } from '../harness/clients.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sluice-cli-supp-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]) => sluiceCli(['suppressions', ...args, '-o', `data_dir=${dir}`]);
const listed = async (...args: string[]) => {
  const result = await cli('list', '--json', ...args);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout).records as Array<Record<string, string>>).map(
    (r) => `${r.recipient} ${r.type}`,
  );
};

test('add, list, remove', async () => {
  const added = await cli('add', 'Someone@Example.com', 'other@example.com', '--description', 'asked us');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /suppressed someone@example\.com \(transactional\)/);
  const one = await cli('add', 'receipts@example.com', '--type', 'transactional');
  assert.equal(one.code, 0, one.stderr);
  assert.deepEqual((await listed('--search', 'someone')).sort(), [
    'someone@example.com non_transactional',
    'someone@example.com transactional',
  ]);
  assert.deepEqual(await listed('--search', 'receipts'), ['receipts@example.com transactional']);
  assert.equal((await listed('--type', 'non_transactional')).length, 2);
  const table = await cli('list');
  assert.match(table.stdout, /^RECIPIENT\s+TYPE\s+SOURCE/);
  assert.match(table.stdout, /other@example\.com\s+\S+\s+Manually Added/);

  const removedOne = await cli('remove', 'someone@example.com', '--type', 'transactional');
  assert.equal(removedOne.code, 0);
  assert.deepEqual(await listed('--search', 'someone'), ['someone@example.com non_transactional']);
  const removedAll = await cli('remove', 'SOMEONE@example.com');
  assert.match(removedAll.stdout, /removed 1 entry/);
  const again = await cli('remove', 'someone@example.com');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is not suppressed/);
});

test('bad input exits 64 with a clear message', async () => {
  for (const [args, message] of [
    [['add', 'not-an-address'], /not an email address/],
    [['add', 'a@b.example', '--type', 'sometimes'], /type must be transactional or non_transactional/],
    [['list', '--limit', 'zero'], /--limit must be a positive integer/],
    [['add'], /needs an address/],
    [['remove', `${'x'.repeat(400)}@example.com`], /not an email address/],
  ] as const) {
    const result = await cli(...args);
    assert.equal(result.code, 64, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});
