/**
 * Specifies KeyService's AUTH cache (smtp.key_cache, auth.key_cache), over a store that counts its
 * reads: with a cache, repeated authentications of one key cost one store read (then a hash and a
 * map lookup each); without one every authentication reads the store; an unknown secret is never
 * cached, so a key created after a failed try works at once; a key deleted or changed through the
 * same KeyService applies at once, and one deleted in the store behind its back (another node,
 * the CLI) is refused once the bound has passed. Grants and valid_ips are checked on every AUTH,
 * cached record or not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AuthResult, KeyService } from '../../src/core/keys.js';
import type { ApiKeyRecord, KeyPatch, KeyStore } from '../../src/store/types.js';

/** An in-memory KeyStore that counts findByHash calls. */
class CountingStore implements KeyStore {
  readonly records = new Map<string, ApiKeyRecord>();
  reads = 0;

  async insert(record: ApiKeyRecord) {
    this.records.set(record.id, record);
  }
  async findByHash(hash: string) {
    this.reads++;
    return [...this.records.values()].find((r) => r.hash === hash) ?? null;
  }
  async findById(id: string) {
    return this.records.get(id) ?? null;
  }
  async list() {
    return [...this.records.values()];
  }
  async update(id: string, patch: KeyPatch, now: string) {
    const old = this.records.get(id);
    if (!old) return null;
    const updated = { ...old, ...patch, updated_at: now } as ApiKeyRecord;
    this.records.set(id, updated);
    return updated;
  }
  async delete(id: string) {
    return this.records.delete(id);
  }
  async touch() {}
}

const IP = '192.0.2.1';

test('with a cache, five AUTHs of one key read the store once; without, five times', async () => {
  for (const [cacheMs, reads] of [
    [60_000, 1],
    [0, 5],
  ] as const) {
    const store = new CountingStore();
    const keys = new KeyService(store, { cacheMs });
    const { secret } = await keys.create({ label: 'app', grants: ['smtp/inject'] });
    for (let i = 0; i < 5; i++) assert.equal((await keys.authenticate(secret, IP, 'smtp/inject')).ok, true);
    assert.equal(store.reads, reads, `cacheMs ${cacheMs}`);
  }
});

test('an unknown secret is not cached: the key created after a failed try works at once', async () => {
  const store = new CountingStore();
  const keys = new KeyService(store, { cacheMs: 60_000 });
  const other = new KeyService(store);
  const { record, secret } = await other.create({ label: 'late', grants: ['smtp/inject'] });
  store.records.delete(record.id);
  assert.deepEqual(await keys.authenticate(secret, IP, 'smtp/inject'), { ok: false, reason: 'unknown' });
  await store.insert(record);
  assert.equal((await keys.authenticate(secret, IP, 'smtp/inject')).ok, true);
});

test('deleted or changed through the same KeyService: applies at once', async () => {
  const store = new CountingStore();
  const keys = new KeyService(store, { cacheMs: 60_000 });
  const a = await keys.create({ label: 'a', grants: ['smtp/inject'] });
  const b = await keys.create({ label: 'b', grants: ['smtp/inject'] });
  assert.equal((await keys.authenticate(a.secret, IP, 'smtp/inject')).ok, true);
  assert.equal((await keys.authenticate(b.secret, IP, 'smtp/inject')).ok, true);
  await keys.delete(a.record.id);
  assert.deepEqual(await keys.authenticate(a.secret, IP, 'smtp/inject'), { ok: false, reason: 'unknown' });
  await keys.update(b.record.id, { valid_ips: ['10.0.0.0/8'] });
  assert.deepEqual(verdict(await keys.authenticate(b.secret, IP, 'smtp/inject')), {
    ok: false,
    reason: 'ip',
  });
});

test('deleted behind its back (another node): refused once cacheMs has passed', async () => {
  const store = new CountingStore();
  const keys = new KeyService(store, { cacheMs: 100 });
  const { record, secret } = await keys.create({ label: 'remote', grants: ['smtp/inject'] });
  assert.equal((await keys.authenticate(secret, IP, 'smtp/inject')).ok, true);
  await store.delete(record.id);
  await sleep(150);
  assert.deepEqual(await keys.authenticate(secret, IP, 'smtp/inject'), { ok: false, reason: 'unknown' });
});

test('grant and valid_ips are checked on every AUTH, also from a cached record', async () => {
  const store = new CountingStore();
  const keys = new KeyService(store, { cacheMs: 60_000 });
  const { secret } = await keys.create({
    label: 'narrow',
    grants: ['smtp/inject'],
    valid_ips: ['192.0.2.0/24'],
  });
  assert.equal((await keys.authenticate(secret, IP, 'smtp/inject')).ok, true);
  assert.deepEqual(verdict(await keys.authenticate(secret, '198.51.100.1', 'smtp/inject')), {
    ok: false,
    reason: 'ip',
  });
  assert.deepEqual(verdict(await keys.authenticate(secret, IP, 'transmissions/modify')), {
    ok: false,
    reason: 'grant',
  });
  assert.equal(store.reads, 1);
});

/** The verdict alone (a refusal of an existing key also names its id and grants, for the log). */
function verdict(result: AuthResult): { ok: boolean; reason?: string } {
  return result.ok ? { ok: true } : { ok: false, reason: result.reason };
}
