/**
 * Specifies that API key changes made with the CLI reach a running `sluice serve` with no restart
 * or reload: a key created while the server runs authenticates within a second (unknown keys are
 * never cached); changes to a key it has seen apply within smtp.key_cache (AUTH reuses a key found
 * by its hash for that long, 500 ms here): after `keys delete` AUTH fails; after `keys update`
 * takes smtp/inject away (or narrows valid_ips so the client is outside) AUTH fails, and giving
 * the grant back or widening valid_ips again lets it back in. A session that authenticated before
 * the change does not keep sending: its next MAIL FROM gets 550 5.7.1 (the key is checked again
 * at MAIL, through the same smtp.key_cache bound).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { createKey, nodemailerVerify, sluiceCli } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
/** How long serve reuses a key record it read (smtp.key_cache) in these tests. */
const KEY_CACHE_MS = 500;
/** Past this, a change made with the CLI (which has exited by then) applies: the bound plus a margin. */
const settle = () => new Promise((resolve) => setTimeout(resolve, KEY_CACHE_MS + 250));

before(async () => {
  sink = await startSink();
  sluice = await startSluice({
    overrides: {
      // A short failure delay: these tests fail AUTH on purpose and should not wait seconds for it.
      'smtp.auth_failure_delay': '100ms',
      'smtp.key_cache': `${KEY_CACHE_MS}ms`,
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
    },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
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

/**
 * An application's long-lived connection: nodemailer's pooled transport with one connection,
 * which authenticates once and sends every message over it.
 */
function pooledSender(key: string) {
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 1,
    host: '127.0.0.1',
    port: sluice.submissionPort,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'SMTP_Injection', pass: key },
  });
  const send = async (rcpt: string) => {
    try {
      const info = await transport.sendMail({
        envelope: { from: 'app@example.com', to: [rcpt] },
        raw: `From: app@example.com\r\nTo: ${rcpt}\r\nSubject: pooled\r\n\r\nHello\r\n`,
      });
      return { ok: true, response: info.response };
    } catch (error) {
      return { ok: false, response: (error as { response?: string }).response ?? String(error) };
    }
  };
  return { send, close: () => transport.close() };
}

for (const [change, args] of [
  ['keys delete', (id: string) => ['keys', 'delete', id]],
  [
    'keys update without smtp/inject',
    (id: string) => ['keys', 'update', id, '--grant', 'transmissions/view'],
  ],
] as const) {
  test(`a session that authenticated before ${change} gets 550 5.7.1 at its next MAIL FROM`, async () => {
    const key = await createKey(sluice.dataDir, { label: `session-${change}` });
    const sender = pooledSender(key.key);
    try {
      const first = await sender.send('first@key-lifecycle.example');
      assert.ok(first.ok, first.response);
      await cli(...args(key.id));
      // Past the time serve may reuse the key record it read for the first message.
      await sleep(KEY_CACHE_MS * 2);
      const second = await sender.send('second@key-lifecycle.example');
      assert.equal(second.ok, false, 'the second message is refused');
      assert.match(second.response, /^550 5\.7\.1 API key is not allowed to send mail/);
    } finally {
      sender.close();
    }
    // One AUTH for both messages: the same session was refused, not a new one.
    const output = sluice.output();
    assert.equal(
      output.split('\n').filter((l) => l.includes(`"key":"${key.id}","msg":"authenticated"`)).length,
      1,
    );
    assert.match(
      output,
      new RegExp(`"key":"${key.id}","reason":"(unknown|grant)","msg":"key may not inject: refused at MAIL"`),
    );
    await waitFor(
      () => sink.messages.some((m) => m.rcptTo.includes('first@key-lifecycle.example')),
      15_000,
      'the first message delivered',
    );
    assert.ok(
      !sink.messages.some((m) => m.rcptTo.includes('second@key-lifecycle.example')),
      'the second never delivered',
    );
  });
}
