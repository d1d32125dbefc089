/**
 * Specifies checkSmtpLogin, the SMTP credential rule every door shares, against a real key store:
 * user SMTP_Injection and a key with smtp/inject log in; a PLAIN authorization identity (authzid)
 * is accepted only empty or equal to the user name, whatever the key, so no door lets a client
 * act for someone else.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { KeyService } from '../../src/core/keys.js';
import { checkSmtpLogin, SMTP_USERNAME } from '../../src/core/smtp-login.js';
import { openEmbeddedStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';

let dir: string;
let stores: Stores;
let keys: KeyService;
let secret: string;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-smtp-login-'));
  stores = openEmbeddedStores({ data_dir: dir });
  keys = new KeyService(stores.keys);
  ({ secret } = await keys.create({ label: 'app', grants: ['smtp/inject'] }));
});

after(async () => {
  await stores?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('no authzid, or the user name itself as authzid: the key decides', async () => {
  assert.equal((await checkSmtpLogin(keys, SMTP_USERNAME, secret, '127.0.0.1')).ok, true);
  assert.equal((await checkSmtpLogin(keys, SMTP_USERNAME, secret, '127.0.0.1', '')).ok, true);
  assert.equal((await checkSmtpLogin(keys, SMTP_USERNAME, secret, '127.0.0.1', SMTP_USERNAME)).ok, true);
  assert.deepEqual(await checkSmtpLogin(keys, SMTP_USERNAME, 'f'.repeat(40), '127.0.0.1'), {
    ok: false,
    reason: 'unknown',
  });
});

test('any other authzid is refused, even with a valid key', async () => {
  for (const authzid of ['root', 'smtp_injection', `${SMTP_USERNAME} `, secret])
    assert.deepEqual(await checkSmtpLogin(keys, SMTP_USERNAME, secret, '127.0.0.1', authzid), {
      ok: false,
      reason: 'authzid',
    });
  // The user name in the authzid field and none in the authcid field (a fallback some servers make).
  assert.deepEqual(await checkSmtpLogin(keys, '', secret, '127.0.0.1', SMTP_USERNAME), {
    ok: false,
    reason: 'authzid',
  });
});
