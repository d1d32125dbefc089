/**
 * The WebhookStore contract, run against every adapter (embedded and Redis, in
 * store-webhooks.test.ts): webhooks insert/get/list/update/delete; batches are enqueued, come back
 * when due (oldest due first), are rescheduled and removed; deleting a webhook drops its batches.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebhookBatch, WebhookRecord, WebhookStore } from '../../src/store/types.js';

const hook = (id: string): WebhookRecord => ({
  id,
  name: `hook ${id}`,
  target: 'http://127.0.0.1:9/hook',
  events: [],
  auth_type: 'none',
  auth_credentials: null,
  secret: 's'.repeat(32),
  active: true,
  created: '2026-01-01T00:00:00.000Z',
  updated: '2026-01-01T00:00:00.000Z',
});

const batch = (id: string, webhook: string, due: number): WebhookBatch => ({
  id,
  webhook_id: webhook,
  payload: `[{"msys":{"n":"${id}"}}]`,
  created: 1000,
  due,
  attempts: 0,
});

export function webhookContract(name: string, open: () => Promise<WebhookStore>): void {
  test(`${name}: webhooks are stored, listed, updated and deleted with their batches`, async () => {
    const store = await open();
    await store.insert(hook('w2'));
    await store.insert(hook('w1'));
    assert.deepEqual(
      (await store.list()).map((w) => w.id),
      ['w1', 'w2'],
    );
    const updated = await store.update(
      'w1',
      { active: false, events: ['delivery'] },
      '2026-02-01T00:00:00.000Z',
    );
    assert.equal(updated?.active, false);
    assert.deepEqual((await store.get('w1'))?.events, ['delivery']);
    assert.equal(await store.update('nope', { name: 'x' }, '2026-02-01T00:00:00.000Z'), null);
    await store.enqueue(batch('b1', 'w1', 2000));
    await store.enqueue(batch('b2', 'w1', 1500));
    await store.enqueue(batch('b3', 'w2', 1800));
    assert.equal(await store.pending('w1'), 2);
    assert.equal(await store.delete('w1'), true);
    assert.equal(await store.delete('w1'), false);
    assert.equal(await store.get('w1'), null);
    assert.equal(await store.pending('w1'), 0);
    assert.deepEqual(
      (await store.due(5000, 10)).map((b) => b.id),
      ['b3'],
    );
  });

  test(`${name}: batches come back when due, oldest first; reschedule and remove`, async () => {
    const store = await open();
    await store.insert(hook('w'));
    await store.enqueue(batch('late', 'w', 3000));
    await store.enqueue(batch('early', 'w', 1000));
    await store.enqueue(batch('future', 'w', 9000));
    const due = await store.due(5000, 10);
    assert.deepEqual(
      due.map((b) => [b.id, b.due, b.attempts]),
      [
        ['early', 1000, 0],
        ['late', 3000, 0],
      ],
    );
    assert.equal(due[0]?.payload, '[{"msys":{"n":"early"}}]');
    await store.reschedule('early', 1, 20_000);
    await store.remove('late');
    assert.equal(await store.pending('w'), 2);
    const later = await store.due(30_000, 10);
    assert.deepEqual(
      later.map((b) => [b.id, b.attempts]),
      [
        ['future', 0],
        ['early', 1],
      ],
    );
  });
}
