/** Specifies the per-key request rate: a limit per window per subject, Retry-After until the window turns. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestRate } from '../../src/core/request-rate.js';

test('limit per subject per window; the refusal says how long until the window turns', () => {
  const rate = new RequestRate(2, 1000);
  assert.deepEqual(rate.take('a', 0), { ok: true });
  assert.deepEqual(rate.take('a', 100), { ok: true });
  assert.deepEqual(rate.take('a', 400), { ok: false, retryAfterMs: 600 });
  assert.deepEqual(rate.take('b', 400), { ok: true }, 'another key has its own count');
  assert.deepEqual(rate.take('a', 1000), { ok: true }, 'a new window');
});

test('0 means unlimited', () => {
  const rate = new RequestRate(0, 1000);
  for (let i = 0; i < 100; i++) assert.deepEqual(rate.take('a', i), { ok: true });
});
