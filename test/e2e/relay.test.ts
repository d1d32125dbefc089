/**
 * Specifies that Sluice is never an open relay, against real `sluice serve` processes: with
 * relay.networks = [127.0.0.1/32], a client connecting from 127.0.0.2 gets 554 5.7.1 at RCPT (swaks
 * and nodemailer, each binding its local address) and nothing is queued, while 127.0.0.1 relays; an
 * authenticated key relays from anywhere; and with relay.require_auth=true even 127.0.0.1 is refused
 * until it authenticates.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createKey, nodemailerSend, queuedId, searchEvents, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const MESSAGE = Buffer.from('From: app@example.com\r\nSubject: relay\r\n\r\nHello.\r\n');

let sink: Sink;
let narrow: SluiceProcess;
let authOnly: SluiceProcess;

before(async () => {
  sink = await startSink();
  const relayhost = `[127.0.0.1]:${sink.port}`;
  // Each assigned as soon as it runs, so after() stops it even if the other failed to start.
  await Promise.all([
    startSluice({
      overrides: { 'delivery.relayhost': relayhost, 'relay.networks': '["127.0.0.1/32"]' },
    }).then((s) => {
      narrow = s;
    }),
    startSluice({ overrides: { 'delivery.relayhost': relayhost, 'relay.require_auth': true } }).then((s) => {
      authOnly = s;
    }),
  ]);
});

after(async () => {
  await Promise.all([narrow?.stop(), authOnly?.stop()]);
  await sink?.stop();
  for (const s of [narrow, authOnly]) if (s) rmSync(s.dataDir, { recursive: true, force: true });
});

test('a client outside relay.networks gets 554 5.7.1 at RCPT, and nothing is queued', async () => {
  const viaSwaks = await swaks({
    port: narrow.smtpPort,
    localAddress: '127.0.0.2',
    from: 'app@example.com',
    to: ['victim@elsewhere.example'],
    data: MESSAGE,
  });
  assert.notEqual(viaSwaks.code, 0, 'swaks reports the refusal');
  assert.ok(
    viaSwaks.serverLines.includes('554 5.7.1 Relay access denied'),
    `swaks transcript:\n${viaSwaks.stdout}`,
  );
  assert.ok(!viaSwaks.serverLines.some((l) => l.startsWith('354')), 'no DATA after the refusal');

  const viaNodemailer = await nodemailerSend({
    port: narrow.smtpPort,
    localAddress: '127.0.0.2',
    from: 'app@example.com',
    to: ['victim@elsewhere.example'],
    raw: MESSAGE,
  });
  assert.equal(viaNodemailer.ok, false);
  assert.equal(viaNodemailer.responseCode, 554);
  assert.match(viaNodemailer.response, /^554 5\.7\.1 /);

  assert.deepEqual(await searchEvents(narrow.dataDir, { recipient: 'victim@elsewhere.example' }), []);
});

test('127.0.0.1, inside relay.networks, relays without AUTH', async () => {
  const sent = await swaks({
    port: narrow.smtpPort,
    localAddress: '127.0.0.1',
    from: 'app@example.com',
    to: ['friend@inside.example'],
    data: MESSAGE,
  });
  assert.equal(sent.code, 0, sent.stdout);
  const id = sent.queuedId;
  assert.ok(id, sent.stdout);
  await waitFor(() => sink.messages.find((m) => m.text.includes(` id ${id}`)), 15_000, 'delivery');
});

test('an authenticated key relays from outside relay.networks', async () => {
  const key = await createKey(narrow.dataDir, { label: 'outside' });
  const sent = await nodemailerSend({
    port: narrow.smtpPort,
    localAddress: '127.0.0.2',
    requireTLS: true,
    auth: { user: 'SMTP_Injection', pass: key.key },
    from: 'app@example.com',
    to: ['friend@outside.example'],
    raw: MESSAGE,
  });
  assert.ok(sent.ok, sent.response);
  const id = queuedId(sent.response);
  assert.ok(id);
  const [injection] = await searchEvents(narrow.dataDir, { messageId: id, type: 'injection' });
  assert.equal(injection?.api_key_id, key.id);
  assert.equal(injection?.ip_address, '127.0.0.2');
});

test('with relay.require_auth, 127.0.0.1 is refused without AUTH and accepted with it', async () => {
  const refused = await swaks({
    port: authOnly.smtpPort,
    from: 'app@example.com',
    to: ['friend@inside.example'],
    data: MESSAGE,
  });
  assert.notEqual(refused.code, 0);
  const refusal = refused.serverLines.find((l) => /^5\d\d /.test(l));
  assert.match(refusal ?? '', /^(530 5\.7\.0|554 5\.7\.1) /, refused.stdout);
  assert.ok(!refused.serverLines.some((l) => l.startsWith('354')), 'no DATA without AUTH');

  const key = await createKey(authOnly.dataDir, { label: 'required' });
  const accepted = await nodemailerSend({
    port: authOnly.smtpPort,
    requireTLS: true,
    auth: { user: 'SMTP_Injection', pass: key.key },
    from: 'app@example.com',
    to: ['friend@inside.example'],
    raw: MESSAGE,
  });
  assert.ok(accepted.ok, accepted.response);
  assert.deepEqual(
    (await searchEvents(authOnly.dataDir, { type: 'injection' })).map((e) => e.api_key_id),
    [key.id],
    'only the authenticated message was injected',
  );
});
