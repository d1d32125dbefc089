/**
 * Specifies the suppression check's outage behaviour: with a store that cannot answer, `defer`
 * refuses for now with 451 4.3.0 (the client retries; nothing accepted is lost) and `accept` lets
 * the recipient through unchecked, telling the caller; with a store that answers, both modes give
 * the same verdict.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkSuppressedAmong,
  checkSuppression,
  SuppressionUnavailable,
} from '../../src/core/suppression.js';
import type { SuppressionRecord, SuppressionStore } from '../../src/store/types.js';

const down: SuppressionStore = {
  put: async () => {},
  get: async () => {
    throw new Error('connection is closed');
  },
  delete: async () => 0,
  list: async () => ({ records: [], next: null }),
};

const entry: SuppressionRecord = {
  recipient: 'gone@example.net',
  type: 'non_transactional',
  source: 'Bounce Rule',
  description: '',
  created: '2026-01-01T00:00:00.000Z',
  updated: '2026-01-01T00:00:00.000Z',
};
const up: SuppressionStore = { ...down, get: async (r) => (r === entry.recipient ? [entry] : []) };

test('defer: a store outage is a 451 4.3.0', async () => {
  await assert.rejects(checkSuppression(down, 'a@example.net', false, 'defer'), (error: unknown) => {
    assert.ok(error instanceof SuppressionUnavailable);
    assert.equal(error.toString(), '451 4.3.0 Suppression list temporarily unavailable, try again later');
    return true;
  });
});

test('accept: a store outage lets recipients through and says so', async () => {
  const skipped: string[] = [];
  const result = await checkSuppressedAmong(down, ['a@example.net', 'b@example.net'], false, 'accept', (e) =>
    skipped.push((e as Error).message),
  );
  assert.deepEqual(result, []);
  assert.deepEqual(skipped, ['connection is closed', 'connection is closed']);
});

test('with the store up both modes agree', async () => {
  for (const mode of ['defer', 'accept'] as const) {
    assert.equal(await checkSuppression(up, 'gone@example.net', false, mode), entry);
    assert.equal(await checkSuppression(up, 'gone@example.net', true, mode), null);
    assert.equal(await checkSuppression(up, 'here@example.net', false, mode), null);
  }
});
