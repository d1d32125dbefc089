/**
 * Specifies console sessions (core/console-sessions.ts) on a real embedded key store with a
 * clock the test moves: which keys may sign in and with what access; a session lasts exactly its
 * lifetime however busy it is; its access follows the key's grants as they are now, and it ends
 * when the key is revoked, loses its console grant or no longer allows the client's address;
 * the oldest session goes past the cap; the CSRF token is compared exactly; the map holds no
 * cookie values.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ConsoleSessions, consoleAccess } from '../../src/core/console-sessions.js';
import { KeyService } from '../../src/core/keys.js';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedKeyStore } from '../../src/store/embedded/keys.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-console-sessions-'));
const db = openDatabase(dir);
const keys = new KeyService(new EmbeddedKeyStore(db));
after(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let now = Date.parse('2026-01-01T00:00:00Z');
const clock = () => now;
const LIFETIME = 30 * 60_000;

test('console/manage acts and reads, console/view reads, other grants do not sign in', async () => {
  assert.equal(consoleAccess(['console/view', 'console/manage']), 'manage');
  assert.equal(consoleAccess(['console/view']), 'view');
  assert.equal(consoleAccess(['api_keys/manage', 'webhooks/modify']), null);
  const sessions = new ConsoleSessions(keys, LIFETIME, 10, clock);
  const manager = await keys.create({ label: 'm', grants: ['console/manage'] });
  const app = await keys.create({ label: 'a', grants: ['smtp/inject'] });
  const signed = await sessions.signIn(manager.secret, '127.0.0.1');
  assert.ok(signed.ok);
  assert.equal(signed.session.access, 'manage');
  assert.equal(signed.session.keyId, manager.record.id);
  assert.notEqual(signed.session.id, signed.session.csrf);
  assert.deepEqual(await sessions.signIn(app.secret, '127.0.0.1'), { ok: false, reason: 'no-console-grant' });
  assert.deepEqual(await sessions.signIn('f'.repeat(40), '127.0.0.1'), { ok: false, reason: 'unknown' });
  assert.deepEqual(await sessions.signIn('short', '127.0.0.1'), { ok: false, reason: 'malformed' });
});

test('a session lasts its lifetime from sign-in, however busy, then is gone', async () => {
  const sessions = new ConsoleSessions(keys, LIFETIME, 10, clock);
  const key = await keys.create({ label: 'v', grants: ['console/view'] });
  const signed = await sessions.signIn(key.secret, '127.0.0.1');
  assert.ok(signed.ok);
  const { id } = signed.session;
  for (let minute = 0; minute < 30; minute += 5) {
    now += 5 * 60_000 - 1;
    assert.ok(await sessions.resolve(id, '127.0.0.1'), `alive after ${minute + 5} min`);
    now += 1;
  }
  assert.equal(await sessions.resolve(id, '127.0.0.1'), null, 'expired at 30 min');
  assert.equal(sessions.size, 0);
  assert.equal(await sessions.resolve(undefined, '127.0.0.1'), null);
  assert.equal(await sessions.resolve('made-up', '127.0.0.1'), null);
});

test("a session's access is its key's grant as it is now; revoking or narrowing the key ends it", async () => {
  const sessions = new ConsoleSessions(keys, LIFETIME, 10, clock);
  const key = await keys.create({ label: 'k', grants: ['console/manage'] });
  const first = await sessions.signIn(key.secret, '127.0.0.1');
  assert.ok(first.ok);
  await keys.update(key.record.id, { grants: ['console/view'], label: 'renamed' });
  const narrowed = await sessions.resolve(first.session.id, '127.0.0.1');
  assert.equal(narrowed?.access, 'view');
  assert.equal(narrowed?.label, 'renamed');
  await keys.update(key.record.id, { valid_ips: ['10.0.0.0/8'] });
  assert.equal(await sessions.resolve(first.session.id, '127.0.0.1'), null, 'address no longer allowed');
  const refused = await sessions.signIn(key.secret, '127.0.0.1');
  assert.deepEqual(refused.ok ? refused : { ok: refused.ok, reason: refused.reason }, {
    ok: false,
    reason: 'ip',
  });
  const inside = await sessions.signIn(key.secret, '::ffff:10.1.2.3');
  assert.ok(inside.ok, 'an IPv4-mapped address is its IPv4 address');
  await keys.update(key.record.id, { grants: ['smtp/inject'] });
  assert.equal(await sessions.resolve(inside.session.id, '10.1.2.3'), null, 'console grant gone');
  await keys.update(key.record.id, { grants: ['console/view'] });
  assert.equal(await sessions.resolve(inside.session.id, '10.1.2.3'), null, 'and it stays ended');
  const last = await sessions.signIn(key.secret, '10.1.2.3');
  assert.ok(last.ok);
  await keys.delete(key.record.id);
  assert.equal(await sessions.resolve(last.session.id, '10.1.2.3'), null, 'revoked');
});

test('past max_sessions the oldest session ends; sign-out ends one', async () => {
  const sessions = new ConsoleSessions(keys, LIFETIME, 3, clock);
  const key = await keys.create({ label: 'c', grants: ['console/view'] });
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const signed = await sessions.signIn(key.secret, '127.0.0.1');
    assert.ok(signed.ok);
    ids.push(signed.session.id);
  }
  assert.equal(sessions.size, 3);
  assert.equal(await sessions.resolve(ids[0], '127.0.0.1'), null, 'the oldest went');
  assert.ok(await sessions.resolve(ids[3], '127.0.0.1'));
  sessions.end(ids[3]!);
  assert.equal(await sessions.resolve(ids[3], '127.0.0.1'), null);
});

test('the CSRF token must match exactly', async () => {
  const sessions = new ConsoleSessions(keys, LIFETIME, 3, clock);
  const key = await keys.create({ label: 't', grants: ['console/manage'] });
  const signed = await sessions.signIn(key.secret, '127.0.0.1');
  assert.ok(signed.ok);
  const { session } = signed;
  assert.equal(ConsoleSessions.csrfMatches(session, session.csrf), true);
  assert.equal(ConsoleSessions.csrfMatches(session, undefined), false);
  assert.equal(ConsoleSessions.csrfMatches(session, ''), false);
  assert.equal(ConsoleSessions.csrfMatches(session, session.csrf.slice(1)), false);
  assert.equal(ConsoleSessions.csrfMatches(session, `${session.csrf}x`), false);
  assert.equal(
    ConsoleSessions.csrfMatches(
      session,
      session.csrf.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
    ),
    false,
  );
  assert.equal(ConsoleSessions.csrfMatches(session, session.id), false, 'the cookie is not the token');
});
