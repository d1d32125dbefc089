/**
 * The CounterStore contract, through core's Limits with an injected clock, run against every
 * adapter (embedded in test/core/limits.test.ts, Redis in redis-stores.test.ts): quota is held at
 * RCPT, counted at commit with the real recipient count, released when a transaction is abandoned
 * or its reservation times out, forgotten as the window slides on; concurrent reservations never
 * pass a limit, and a reservation is all or nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type LimitRules, Limits } from '../../src/core/limits.js';
import type { CounterStore } from '../../src/store/types.js';

const MINUTE = 60_000;
const subject = { key: 'k1', senderDomain: 'example.com', clientAddress: '192.0.2.1' };

/** `open` gives a fresh, empty store reading the given clock. */
export function counterContract(name: string, open: (clock: () => number) => Promise<CounterStore>): void {
  async function setup(rules: Partial<LimitRules>, ttlMs = 10 * MINUTE) {
    let now = 1_000_000;
    const clock = () => now;
    const store = await open(clock);
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

  describe(`Limits over the ${name} CounterStore`, () => {
    test('holds one message per transaction and one per recipient; the next over the limit is refused', async () => {
      const { limits } = await setup({ sender_domain: [{ windowMs: MINUTE, messages: 2, recipients: 3 }] });
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
      const { limits, store } = await setup({ key: [{ windowMs: MINUTE, messages: null, recipients: 5 }] });
      for (let i = 0; i < 4; i++) assert.equal((await limits.reserveRecipient('t1', subject)).ok, true);
      await limits.commit('t1', subject, 2);
      const spec = { key: `recipients|key|${MINUTE}|5|k1`, limit: 5, windowMs: MINUTE };
      assert.equal(await store.usage(spec), 2);
    });

    test('release drops the holds of an abandoned transaction: nothing is counted', async () => {
      const { limits } = await setup({
        client_address: [{ windowMs: MINUTE, messages: 1, recipients: null }],
      });
      assert.equal((await limits.reserveRecipient('aborted', subject)).ok, true);
      assert.equal((await limits.reserveRecipient('next', subject)).ok, false);
      await limits.release('aborted');
      assert.equal((await limits.reserveRecipient('next', subject)).ok, true);
    });

    test('holds nobody commits or releases expire after the reservation timeout', async () => {
      const { limits, advance } = await setup(
        { client_address: [{ windowMs: 60 * MINUTE, messages: 1, recipients: null }] },
        MINUTE,
      );
      assert.equal((await limits.reserveRecipient('lost', subject)).ok, true);
      advance(MINUTE - 1);
      assert.equal((await limits.reserveRecipient('next', subject)).ok, false);
      advance(2);
      assert.equal((await limits.reserveRecipient('next', subject)).ok, true);
    });

    test('a committed burst is forgotten as the window slides on', async () => {
      const { limits, advance } = await setup({
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
      const { limits } = await setup({
        key: [{ windowMs: MINUTE, messages: 10, recipients: null }],
        client_address: [{ windowMs: MINUTE, messages: 1, recipients: null }],
      });
      assert.equal((await limits.reserveRecipient('a', subject)).ok, true);
      const refused = await limits.reserveRecipient('b', subject);
      assert.equal(!refused.ok && refused.exceeded.scope, 'client_address');
      assert.equal((await limits.reserveRecipient('b', { ...subject, clientAddress: '192.0.2.2' })).ok, true);
    });

    test('concurrent reservations never pass the limit: exactly the limit is held', async () => {
      const { limits, store } = await setup({ key: [{ windowMs: MINUTE, messages: 100, recipients: null }] });
      const verdicts = await Promise.all(
        Array.from({ length: 250 }, (_, i) => limits.reserveRecipient(`c${i}`, subject)),
      );
      assert.equal(verdicts.filter((v) => v.ok).length, 100);
      const spec = { key: `messages|key|${MINUTE}|100|k1`, limit: 100, windowMs: MINUTE };
      assert.equal(await store.usage(spec), 100);
      await Promise.all(Array.from({ length: 250 }, (_, i) => limits.commit(`c${i}`, subject, 0)));
      assert.equal(await store.usage(spec), 0, 'commits with no recipients count nothing and free the holds');
    });

    test('a reservation is all or nothing across counters', async () => {
      const { limits, store } = await setup({
        key: [{ windowMs: MINUTE, messages: 10, recipients: null }],
        client_address: [{ windowMs: MINUTE, messages: 1, recipients: null }],
      });
      assert.equal((await limits.reserveRecipient('a', subject)).ok, true);
      assert.equal((await limits.reserveRecipient('b', subject)).ok, false);
      const keySpec = { key: `messages|key|${MINUTE}|10|k1`, limit: 10, windowMs: MINUTE };
      assert.equal(await store.usage(keySpec), 1, 'the refused reservation held nothing on the key counter');
    });
  });
}
