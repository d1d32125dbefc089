/**
 * Specifies the policy service's key cache on a hand-driven clock: a record read from the store is
 * reused for ttl and read again after it, so a revoked key stops applying within ttl; unknown keys
 * and failed reads are not cached; overlapping lookups of one id share one read; ttl 0 reads
 * every time; the number of entries is bounded; clear() forgets everything, including what a
 * read in flight at that moment returns.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExpiringKeyCache } from '../../src/store/expiring-keys.js';
import type { ApiKeyRecord } from '../../src/store/types.js';

function record(id: string): ApiKeyRecord {
  return {
    id,
    label: id,
    grants: ['smtp/inject'],
    valid_ips: [],
    hash: `h-${id}`,
    prefix: 'abcd',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    last_used_at: null,
    defaults: {},
  };
}

/** A store of records with a read counter, whose reads can be made to fail. */
function fakeStore() {
  const records = new Map<string, ApiKeyRecord>();
  const state = { reads: 0, failing: false };
  const lookup = async (id: string) => {
    state.reads++;
    if (state.failing) throw new Error('store away');
    return records.get(id) ?? null;
  };
  return { records, state, lookup };
}

describe('ExpiringKeyCache', () => {
  test('a revoked key is still seen until ttl has passed, and refused from then on', async () => {
    let now = 1_000;
    const store = fakeStore();
    store.records.set('k1', record('k1'));
    const cache = new ExpiringKeyCache(store.lookup, 2_000, () => now);
    assert.equal((await cache.get('k1'))?.id, 'k1');
    store.records.delete('k1');
    now += 1_999;
    assert.equal((await cache.get('k1'))?.id, 'k1', 'within ttl the cached record answers');
    assert.equal(store.state.reads, 1);
    now += 1;
    assert.equal(await cache.get('k1'), null, 'at ttl the store is read again');
    assert.equal(store.state.reads, 2);
  });

  test('an unknown key is not cached: a key created elsewhere works at the next request', async () => {
    const store = fakeStore();
    const cache = new ExpiringKeyCache(store.lookup, 60_000, () => 0);
    assert.equal(await cache.get('new'), null);
    store.records.set('new', record('new'));
    assert.equal((await cache.get('new'))?.id, 'new');
  });

  test('a failed read is not cached and fails the lookup', async () => {
    const store = fakeStore();
    store.records.set('k', record('k'));
    const cache = new ExpiringKeyCache(store.lookup, 60_000, () => 0);
    store.state.failing = true;
    await assert.rejects(cache.get('k'), /store away/);
    store.state.failing = false;
    assert.equal((await cache.get('k'))?.id, 'k');
  });

  test('overlapping lookups of one id share one read', async () => {
    const store = fakeStore();
    store.records.set('k', record('k'));
    const cache = new ExpiringKeyCache(store.lookup, 60_000, () => 0);
    const found = await Promise.all([cache.get('k'), cache.get('k'), cache.get('k')]);
    assert.deepEqual(
      found.map((r) => r?.id),
      ['k', 'k', 'k'],
    );
    assert.equal(store.state.reads, 1);
  });

  test('ttl 0 reads the store on every lookup', async () => {
    const store = fakeStore();
    store.records.set('k', record('k'));
    const cache = new ExpiringKeyCache(store.lookup, 0, () => 0);
    await cache.get('k');
    await cache.get('k');
    assert.equal(store.state.reads, 2);
  });

  test('clear() forgets every entry, and a read in flight then does not fill the cache', async () => {
    const store = fakeStore();
    store.records.set('k', record('k'));
    const cache = new ExpiringKeyCache(store.lookup, 60_000, () => 0);
    await cache.get('k');
    cache.clear();
    await cache.get('k');
    assert.equal(store.state.reads, 2, 'read again after clear()');
    // A read that started before a change (clear() is what a local revocation calls)...
    cache.clear();
    const inFlight = cache.get('k');
    cache.clear();
    store.records.delete('k');
    assert.equal((await inFlight)?.id, 'k');
    // ...is not what the next lookup gets.
    assert.equal(await cache.get('k'), null, 'the answer from before clear() was not kept');
  });

  test('past maxEntries the oldest entry is read again', async () => {
    const store = fakeStore();
    for (const id of ['a', 'b', 'c']) store.records.set(id, record(id));
    const cache = new ExpiringKeyCache(store.lookup, 60_000, () => 0, 2);
    await cache.get('a');
    await cache.get('b');
    await cache.get('c');
    assert.equal(store.state.reads, 3);
    await cache.get('c');
    assert.equal(store.state.reads, 3, 'c is cached');
    await cache.get('a');
    assert.equal(store.state.reads, 4, 'a was evicted');
  });
});
