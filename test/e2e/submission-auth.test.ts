/**
 * Specifies AUTH on the submission listener against a real `sluice serve`: user SMTP_Injection with an
 * API key as the password, only after STARTTLS. The matrix: a key with smtp/inject is accepted and its
 * id lands in the events; a wrong key, a key without the smtp/inject grant, and a key whose valid_ips
 * exclude the client all get 535 5.7.8, and so does PLAIN with an authzid other than the user; AUTH before STARTTLS is neither advertised nor accepted (538);
 * MAIL without AUTH gets 530 5.7.0; and repeated failures from one address are answered ever more slowly.
 * Failing cases use their own loopback source address so one case's failures do not slow another's.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  createKey,
  nodemailerSend,
  nodemailerVerify,
  pythonSmtp,
  queuedId,
  RawSmtp,
  searchEvents,
  swaks,
} from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const USER = 'SMTP_Injection';
const MESSAGE = Buffer.from('From: app@example.com\r\nSubject: submission\r\n\r\nHello.\r\n');

let sink: Sink;
let sluice: SluiceProcess;
let good: { id: string; key: string };
let noGrant: { id: string; key: string };
let tenOnly: { id: string; key: string };
let loopbackOnly: { id: string; key: string };

before(async () => {
  sink = await startSink();
  sluice = await startSluice({
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'smtp.auth_failure_delay': '500ms',
    },
  });
  [good, noGrant, tenOnly, loopbackOnly] = await Promise.all([
    createKey(sluice.dataDir, { label: 'good' }),
    createKey(sluice.dataDir, { label: 'view-only', grants: ['transmissions/view'] }),
    createKey(sluice.dataDir, { label: 'ten', validIps: ['10.0.0.0/8'] }),
    createKey(sluice.dataDir, { label: 'loopback', validIps: ['127.0.0.0/8'] }),
  ]);
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

const ENHANCED_535 = /^535 5\.7\.8 /;

test('a key with smtp/inject is accepted after STARTTLS, and its id is in the events', async () => {
  const sent = await nodemailerSend({
    port: sluice.submissionPort,
    requireTLS: true,
    auth: { user: USER, pass: good.key },
    from: 'app@example.com',
    to: ['user@submission.example'],
    raw: MESSAGE,
  });
  assert.ok(sent.ok, `nodemailer: ${sent.response}`);
  const viaSwaks = await swaks({
    port: sluice.submissionPort,
    tls: true,
    auth: { user: USER, password: good.key },
    from: 'app@example.com',
    to: ['other@submission.example'],
    data: MESSAGE,
  });
  assert.equal(viaSwaks.code, 0, viaSwaks.stdout + viaSwaks.stderr);

  for (const id of [queuedId(sent.response), viaSwaks.queuedId]) {
    assert.ok(id, 'queued id in the reply');
    const events = await waitFor(
      async () => {
        const found = await searchEvents(sluice.dataDir, { messageId: id });
        return found.some((e) => e.type === 'delivery') ? found : undefined;
      },
      10_000,
      `events of ${id}`,
    );
    assert.deepEqual(events?.map((e) => e.type).sort(), ['delivery', 'injection']);
    for (const event of events ?? []) assert.equal(event.api_key_id, good.id, `${event.type} event`);
    const delivered = sink.messages.find((m) => m.text.includes(` id ${id}`));
    assert.ok(delivered, `message ${id} at the sink`);
    assert.match(
      delivered.text,
      /^Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby \S+ \(Sluice\) with ESMTPSA id/,
    );
  }
});

test('AUTH is advertised only once TLS is up, and refused before STARTTLS with 538 5.7.0', async () => {
  const client = await RawSmtp.open(sluice.submissionPort);
  try {
    const ehlo = await client.command('EHLO raw.client.test');
    assert.equal(ehlo.code, 250);
    assert.ok(ehlo.lines.includes('STARTTLS'), ehlo.raw);
    assert.ok(!ehlo.lines.some((l) => l.startsWith('AUTH')), `AUTH offered before TLS:\n${ehlo.raw}`);
    const plain = Buffer.from(`\0${USER}\0${good.key}`).toString('base64');
    const auth = await client.command(`AUTH PLAIN ${plain}`);
    assert.match(auth.raw, /^(538|530) 5\.7\.\d+ /);
    const noop = await client.command('NOOP');
    assert.equal(noop.code, 250, 'the session goes on');
  } finally {
    await client.quit();
  }

  // A real client that would have sent the key in clear text has nothing to send it to.
  const steps = await pythonSmtp({ port: sluice.submissionPort, login: { user: USER, password: good.key } });
  const last = steps[steps.length - 1]!;
  assert.equal(last.step, 'error', JSON.stringify(steps));
  assert.match(last.text, /SMTPNotSupportedError|AUTH extension not supported/);

  // After STARTTLS the same server offers AUTH (swaks shows the TLS part of the dialogue with "<~").
  const viaSwaks = await swaks({
    port: sluice.submissionPort,
    tls: true,
    from: 'app@example.com',
    to: ['x@submission.example'],
    extra: ['--quit-after', 'EHLO'],
  });
  assert.match(viaSwaks.stdout, /^<~ +250-AUTH PLAIN LOGIN/m, viaSwaks.stdout);
  assert.doesNotMatch(viaSwaks.stdout, /^<- +250-AUTH/m, viaSwaks.stdout);
});

test('a wrong key, or the right key under another user name, gets 535 5.7.8', async () => {
  const wrong = await nodemailerVerify({
    port: sluice.submissionPort,
    localAddress: '127.0.1.1',
    requireTLS: true,
    auth: { user: USER, pass: 'f'.repeat(40) },
  });
  assert.equal(wrong.errorCode, 'EAUTH');
  assert.match(wrong.response, ENHANCED_535);

  const malformed = await nodemailerVerify({
    port: sluice.submissionPort,
    localAddress: '127.0.1.2',
    requireTLS: true,
    auth: { user: USER, pass: 'not a key' },
  });
  assert.match(malformed.response, ENHANCED_535);

  const otherUser = await nodemailerVerify({
    port: sluice.submissionPort,
    localAddress: '127.0.1.3',
    requireTLS: true,
    auth: { user: 'admin', pass: good.key },
  });
  assert.match(otherUser.response, ENHANCED_535);
});

test('a key without the smtp/inject grant gets 535 5.7.8', async () => {
  const steps = await pythonSmtp({
    port: sluice.submissionPort,
    localAddress: '127.0.1.4',
    starttls: true,
    login: { user: USER, password: noGrant.key },
    from: 'app@example.com',
    to: ['user@submission.example'],
    data: MESSAGE,
  });
  const login = steps.find((s) => s.step === 'login');
  assert.ok(login, JSON.stringify(steps));
  assert.equal(login.code, 535);
  assert.match(login.text, /^5\.7\.8 /);
  assert.ok(!steps.some((s) => s.step === 'mail'), 'no MAIL after a failed AUTH');
  // The reply stays generic; the log names the key and why, never the key itself.
  const failure = sluice
    .output()
    .split('\n')
    .filter((line) => line.includes('"auth failed"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((line) => line.key === noGrant.id);
  assert.ok(failure, 'an auth failed line with the key id');
  assert.equal(failure.reason, 'grant');
  assert.ok(!sluice.output().includes(noGrant.key));
});

test('PLAIN with an authzid other than the user gets 535 5.7.8, as from sluice auth; the user itself is fine', async () => {
  const acting = await pythonSmtp({
    port: sluice.submissionPort,
    localAddress: '127.0.1.6',
    starttls: true,
    login: { user: USER, password: good.key, authzid: 'postmaster@example.com' },
    from: 'app@example.com',
    to: ['user@submission.example'],
    data: MESSAGE,
  });
  const refused = acting.find((s) => s.step === 'login');
  assert.ok(refused, JSON.stringify(acting));
  assert.equal(refused.code, 535);
  assert.match(refused.text, /^5\.7\.8 /);
  assert.ok(!acting.some((s) => s.step === 'mail'), 'no MAIL after a failed AUTH');
  await waitFor(() => /"reason":"authzid","delay_ms"/.test(sluice.output()), 5_000, 'the reason logged');

  // The user name in the authzid field only (the authcid empty): refused too, not read as the user.
  const swapped = await pythonSmtp({
    port: sluice.submissionPort,
    localAddress: '127.0.1.7',
    starttls: true,
    login: { user: '', password: good.key, authzid: USER },
  });
  assert.equal(swapped.find((s) => s.step === 'login')?.code, 535, JSON.stringify(swapped));

  const same = await pythonSmtp({
    port: sluice.submissionPort,
    localAddress: '127.0.1.8',
    starttls: true,
    login: { user: USER, password: good.key, authzid: USER },
    from: 'app@example.com',
    to: ['user@submission.example'],
    data: MESSAGE,
  });
  assert.equal(same.find((s) => s.step === 'login')?.code, 235, JSON.stringify(same));
  assert.equal(same.at(-1)?.code, 250, JSON.stringify(same));
});

test('valid_ips: a key for 10.0.0.0/8 is refused from 127.0.0.1; one for 127.0.0.0/8 is accepted', async () => {
  const refused = await nodemailerVerify({
    port: sluice.submissionPort,
    localAddress: '127.0.0.1',
    requireTLS: true,
    auth: { user: USER, pass: tenOnly.key },
  });
  assert.match(refused.response, ENHANCED_535);

  const accepted = await nodemailerSend({
    port: sluice.submissionPort,
    localAddress: '127.0.0.1',
    requireTLS: true,
    auth: { user: USER, pass: loopbackOnly.key },
    from: 'app@example.com',
    to: ['user@submission.example'],
    raw: MESSAGE,
  });
  assert.ok(accepted.ok, accepted.response);
  const id = queuedId(accepted.response);
  assert.ok(id);
  const injection = await searchEvents(sluice.dataDir, { messageId: id, type: 'injection' });
  assert.equal(injection[0]?.api_key_id, loopbackOnly.id);
});

test('MAIL without AUTH gets 530 5.7.0, with or without TLS', async () => {
  const steps = await pythonSmtp({
    port: sluice.submissionPort,
    starttls: true,
    from: 'app@example.com',
    to: ['user@submission.example'],
    data: MESSAGE,
  });
  const mail = steps.find((s) => s.step === 'mail');
  assert.ok(mail, JSON.stringify(steps));
  assert.equal(mail.code, 530);
  assert.match(mail.text, /^5\.7\.0 /);

  const client = await RawSmtp.open(sluice.submissionPort);
  try {
    await client.command('EHLO raw.client.test');
    const plainMail = await client.command('MAIL FROM:<app@example.com>');
    assert.match(plainMail.raw, /^530 5\.7\.0 /);
  } finally {
    await client.quit();
  }
});

test('repeated AUTH failures from one address are answered more and more slowly; success resets', async () => {
  // auth_failure_delay is 500ms: the delays are 0.5 s, 1 s, 2 s. Only relations are asserted.
  const from = '127.0.2.1';
  const timedFailure = async () => {
    const started = Date.now();
    const result = await nodemailerVerify({
      port: sluice.submissionPort,
      localAddress: from,
      requireTLS: true,
      auth: { user: USER, pass: '0'.repeat(40) },
    });
    assert.match(result.response, ENHANCED_535);
    return Date.now() - started;
  };
  const first = await timedFailure();
  await timedFailure();
  const third = await timedFailure();
  assert.ok(third >= 1500, `third failure answered after ${third} ms (first: ${first} ms)`);
  assert.ok(third > first, `third failure (${third} ms) not slower than the first (${first} ms)`);

  const success = await nodemailerVerify({
    port: sluice.submissionPort,
    localAddress: from,
    requireTLS: true,
    auth: { user: USER, pass: good.key },
  });
  assert.ok(success.ok, success.response);
  const afterSuccess = await timedFailure();
  assert.ok(
    afterSuccess < third,
    `after a success: ${afterSuccess} ms, third failure before it: ${third} ms`,
  );
});
