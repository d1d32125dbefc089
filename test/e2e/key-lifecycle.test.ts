/**
 * Specifies that API key changes made with the CLI reach a running `sluice serve` with no restart
 * or reload: a key created while the server runs authenticates within a second (unknown keys are
 * never cached); changes to a key it has seen apply within smtp.key_cache (AUTH reuses a key found
 * by its hash for that long, 500 ms here): after `keys delete` AUTH fails; after `keys update`
 * takes smtp/inject away (or narrows valid_ips so the client is outside) AUTH fails, and giving
 * the grant back or widening valid_ips again lets it back in.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createKey, nodemailerVerify, sluiceCli } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;
const KEY_CACHE_MS = 500;
/** Past this, a change made with the CLI (which has exited by then) applies: the bound plus a margin. */
const settle = () => new Promise((resolve) => setTimeout(resolve, KEY_CACHE_MS + 250));

before(async () => {
  // A short failure delay: these tests fail AUTH on purpose and should not wait seconds for it.
  sluice = await startSluice({
    overrides: { 'smtp.auth_failure_delay': '100ms', 'smtp.key_cache': `${KEY_CACHE_MS}ms` },
  });
});

after(async () => {
  await sluice?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

function auth(key: string) {
  return nodemailerVerify({
    port: sluice.submissionPort,
    requireTLS: true,
    auth: { user: 'SMTP_Injection', pass: key },
  });
}

async function cli(...args: string[]) {
  const result = await sluiceCli([...args, '-o', `data_dir=${sluice.dataDir}`]);
  assert.equal(result.code, 0, `sluice ${args.join(' ')}: ${result.stderr}`);
  return result;
}

test('a key created while serve runs authenticates within a second; after keys delete it fails within smtp.key_cache', async () => {
  const key = await createKey(sluice.dataDir, { label: 'live' });
  const ok = await waitFor(async () => (await auth(key.key)).ok, 1_000, 'AUTH with the new key');
  assert.equal(ok, true);
  assert.match((await cli('keys', 'list')).stdout, new RegExp(key.id));

  await cli('keys', 'delete', key.id);
  await settle();
  const refused = await auth(key.key);
  assert.equal(refused.ok, false);
  assert.match(refused.response, /^535 5\.7\.8 /);

  const list = await cli('keys', 'list');
  assert.doesNotMatch(list.stdout, new RegExp(key.id));
});

test('keys update without smtp/inject makes the next AUTH fail', async () => {
  const key = await createKey(sluice.dataDir, { label: 'demoted' });
  assert.ok((await auth(key.key)).ok, 'the key works before the update');

  await cli('keys', 'update', key.id, '--grant', 'transmissions/view');
  await settle();
  const refused = await auth(key.key);
  assert.equal(refused.ok, false);
  assert.match(refused.response, /^535 5\.7\.8 /);

  await cli('keys', 'update', key.id, '--grant', 'smtp/inject', '--grant', 'transmissions/view');
  await settle();
  assert.ok((await auth(key.key)).ok, 'the grant given back works again');
});

test('keys update --valid-ip outside the client refuses it; --any-ip lets it back in', async () => {
  const key = await createKey(sluice.dataDir, { label: 'moved' });
  assert.ok((await auth(key.key)).ok);

  await cli('keys', 'update', key.id, '--valid-ip', '10.0.0.0/8');
  await settle();
  const refused = await auth(key.key);
  assert.match(refused.response, /^535 5\.7\.8 /);

  await cli('keys', 'update', key.id, '--any-ip');
  await settle();
  assert.ok((await auth(key.key)).ok);
});
