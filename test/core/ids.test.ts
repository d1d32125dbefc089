/**
 * Specifies message ids: 20 lowercase hex characters, the first 12 the time in ms (so they sort by
 * time), the last 8 random, drawn from a pool refilled every 1,024 ids: ids stay distinct across
 * refills.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newMessageId } from '../../src/core/ids.js';

test('20 lowercase hex characters, time first', () => {
  const id = newMessageId(0x0123456789ab);
  assert.match(id, /^[0-9a-f]{20}$/);
  assert.equal(id.slice(0, 12), '0123456789ab');
});

test('5,000 ids at one instant (several pool refills) are all distinct', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 5000; i++) ids.add(newMessageId(1_700_000_000_000));
  assert.equal(ids.size, 5000);
});
