/**
 * Specifies sending limits (core/limits.ts) over the embedded CounterStore with an injected clock:
 * quota is held at RCPT, counted at commit with the real recipient count, released when a
 * transaction is abandoned or its reservation times out, and forgotten as the window slides on.
 * Memory drains: idle counters and expired reservations go away.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type LimitRules, Limits, senderDomain } from '../../src/core/limits.js';
import { EmbeddedCounterStore } from '../../src/store/embedded/counters.js';

const MINUTE = 60_000;

function setup(rules: Partial<LimitRules>, ttlMs = 10 * MINUTE) {
  let now = 1_000_000;
  const clock = () => now;
  const store = new EmbeddedCounterStore({ clock });
  const limits = new Limits(
    store,
    { key: [], sender_domain: [], client_address: [], ...rules },
    ttlMs,
    clock,
  );
  return {
    store,
    limits,
    advance(ms: number) {
      now += ms;
    },
  };
}

const subject = { key: 'k1', senderDomain: 'example.com', clientAddress: '192.0.2.1' };

describe('Limits', () => {
  test('holds one message per transaction and one per recipient; the next over the limit is refused', async () => {
    const { limits } = setup({ sender_domain: [{ windowMs: MINUTE, messages: 2, recipients: 3 }] });
    assert.deepEqual(await limits.reserveRecipient('t1', subject), { ok: true });
    assert.deepEqual(await limits.reserveRecipient('t1', subject), { ok: true });
    assert.deepEqual(await limits.reserveRecipient('t2', subject), { ok: true });
    const verdict = await limits.reserveRecipient('t2', subject);
    assert.equal(verdict.ok, false);
    if (!verdict.ok)
      assert.deepEqual(verdict.exceeded, {
        scope: 'sender_domain',
        value: 'example.com',
        unit: 'recipients',
        limit: 3,
        windowMs: MINUTE,
      });
    // A third transaction cannot even hold its message.
    const third = await limits.reserveRecipient('t3', { ...subject, senderDomain: 'example.com' });
    assert.equal(third.ok, false);
  });

  test('commit counts the recipients that were accepted, not the ones reserved', async () => {
    const { limits, store } = setup({ key: [{ windowMs: MINUTE, messages: null, recipients: 5 }] });
    for (let i = 0; i < 4; i++) assert.equal((await limits.reserveRecipient('t1', subject)).ok, true);
    await limits.commit('t1', subject, 2);
    const spec = { key: `recipients|key|${MINUTE}|5|k1`, limit: 5, windowMs: MINUTE };
    assert.equal(await store.usage(spec), 2);
    assert.equal(store.size().reservations, 0);
  });

  test('release drops the holds of an abandoned transaction: nothing is counted', async () => {
    const { limits } = setup({ client_address: [{ windowMs: MINUTE, messages: 1, recipients: null }] });
    assert.equal((await limits.reserveRecipient('aborted', subject)).ok, true);
    assert.equal((await limits.reserveRecipient('next', subject)).ok, false);
    await limits.release('aborted');
    assert.equal((await limits.reserveRecipient('next', subject)).ok, true);
  });

  test('holds nobody commits or releases expire after the reservation timeout', async () => {
    const { limits, advance, store } = setup(
      { client_address: [{ windowMs: 60 * MINUTE, messages: 1, recipients: null }] },
      MINUTE,
    );
    assert.equal((await limits.reserveRecipient('lost', subject)).ok, true);
    advance(MINUTE - 1);
    assert.equal((await limits.reserveRecipient('next', subject)).ok, false);
    advance(2);
    assert.equal((await limits.reserveRecipient('next', subject)).ok, true);
    assert.equal(store.size().reservations, 1);
  });

  test('a committed burst is forgotten as the window slides on', async () => {
    const { limits, advance } = setup({
      sender_domain: [{ windowMs: MINUTE, messages: 2, recipients: null }],
    });
    for (const t of ['a', 'b']) {
      assert.equal((await limits.reserveRecipient(t, subject)).ok, true);
      await limits.commit(t, subject, 1);
    }
    assert.equal((await limits.reserveRecipient('c', subject)).ok, false);
    // Into the next window the previous one still weighs by its overlap...
    advance(MINUTE + MINUTE / 4);
    assert.equal((await limits.reserveRecipient('c', subject)).ok, false);
    // ...less and less: past half of it one message fits again.
    advance(MINUTE / 2);
    assert.equal((await limits.reserveRecipient('c', subject)).ok, true);
    await limits.release('c');
    // After two windows, the whole budget.
    advance(2 * MINUTE);
    assert.equal((await limits.reserveRecipient('d', subject)).ok, true);
    assert.equal((await limits.reserveRecipient('e', subject)).ok, true);
  });

  test('every scope is checked, and each value has its own budget', async () => {
    const { limits } = setup({
      key: [{ windowMs: MINUTE, messages: 10, recipients: null }],
      client_address: [{ windowMs: MINUTE, messages: 1, recipients: null }],
    });
    assert.equal((await limits.reserveRecipient('a', subject)).ok, true);
    const refused = await limits.reserveRecipient('b', subject);
    assert.equal(!refused.ok && refused.exceeded.scope, 'client_address');
    assert.equal((await limits.reserveRecipient('b', { ...subject, clientAddress: '192.0.2.2' })).ok, true);
  });

  test('without rules nothing is stored', async () => {
    const { limits, store } = setup({});
    assert.equal((await limits.reserveRecipient('a', subject)).ok, true);
    await limits.commit('a', subject, 3);
    assert.deepEqual(store.size(), { counters: 0, reservations: 0 });
  });
});

describe('EmbeddedCounterStore memory', () => {
  test('idle counters and expired reservations drain away', async () => {
    const { limits, advance, store } = setup(
      { client_address: [{ windowMs: MINUTE, messages: 100, recipients: null }] },
      MINUTE,
    );
    for (let i = 0; i < 200; i++)
      await limits.reserveRecipient(`t${i}`, { ...subject, clientAddress: `10.0.${i >> 8}.${i & 255}` });
    assert.deepEqual(store.size(), { counters: 200, reservations: 200 });
    advance(3 * MINUTE);
    for (let i = 0; i < 200; i++) await limits.release('none');
    assert.deepEqual(store.size(), { counters: 0, reservations: 0 });
  });

  test('past maxCounters the least recently used counter without holds is forgotten', async () => {
    const store = new EmbeddedCounterStore({ maxCounters: 3, clock: () => 0 });
    for (let i = 0; i < 5; i++) {
      const counter = { key: `c${i}`, limit: 10, windowMs: MINUTE };
      await store.commit(`r${i}`, [{ counter, amount: 1 }]);
    }
    assert.equal(store.size().counters, 3);
  });
});

test('senderDomain takes the domain after the last @, lower-cased; none for the null sender', () => {
  assert.equal(senderDomain('"a@b"@Example.COM'), 'example.com');
  assert.equal(senderDomain(''), null);
  assert.equal(senderDomain(null), null);
  assert.equal(senderDomain('postmaster'), null);
});
