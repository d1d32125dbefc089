/**
 * Specifies the webhook rules: which events a webhook takes, SparkPost's batch shape
 * (message_event, track_event, gen_event), the signature a receiver verifies, and the retry schedule that
 * repeats its last wait and stops after max_age.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { batchPayload, nextAttempt, signBatch, wants } from '../../src/core/webhooks.js';
import type { WebhookRecord } from '../../src/store/types.js';

const hook = (events: string[], active = true) => ({ events, active }) as WebhookRecord;
const event = (type: string) => ({ type, event_id: '1', timestamp: 't' }) as never;

test('a webhook takes the types it lists (all when none), only while active', () => {
  assert.ok(wants(hook([]), event('bounce')));
  assert.ok(wants(hook(['bounce']), event('bounce')));
  assert.ok(!wants(hook(['bounce']), event('delivery')));
  assert.ok(!wants(hook([], false), event('bounce')));
});

test('batch shape: message, track and generation events as SparkPost wraps them', () => {
  const body = JSON.parse(
    batchPayload([
      event('delivery'),
      event('click'),
      event('initial_open'),
      event('generation_failure'),
      event('generation_rejection'),
    ]),
  );
  assert.deepEqual(
    body.map((entry: { msys: object }) => Object.keys(entry.msys)[0]),
    ['message_event', 'track_event', 'track_event', 'gen_event', 'gen_event'],
  );
});

test('signature: t=UNIX,v1=HMAC-SHA256(secret, "t.body")', () => {
  const signature = signBatch('s3cret', '[1,2]', 1_700_000_000_123);
  const expected = createHmac('sha256', 's3cret').update('1700000000.[1,2]').digest('hex');
  assert.equal(signature, `t=1700000000,v1=${expected}`);
});

test('retries follow the schedule, repeat the last wait, and stop after max_age', () => {
  const schedule = [1000, 5000];
  assert.equal(nextAttempt(0, 1, schedule, 60_000, 0), 1000);
  assert.equal(nextAttempt(0, 2, schedule, 60_000, 1000), 6000);
  assert.equal(nextAttempt(0, 9, schedule, 60_000, 50_000), 55_000);
  assert.equal(nextAttempt(0, 10, schedule, 60_000, 56_000), null);
});
