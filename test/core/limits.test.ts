/**
 * Specifies sending limits (core/limits.ts) over the embedded CounterStore with an injected clock:
 * the CounterStore contract (test/store/counters.contract.ts), plus what only the in-memory store
 * promises: memory drains (idle counters and expired reservations go away) and stays bounded.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type LimitRules, Limits, senderDomain } from '../../src/core/limits.js';
import { EmbeddedCounterStore } from '../../src/store/embedded/counters.js';
import { counterContract } from '../store/counters.contract.js';

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

counterContract('embedded', async (clock) => new EmbeddedCounterStore({ clock }));

describe('Limits over the embedded store', () => {
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
