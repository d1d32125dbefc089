/**
 * Specifies the outbound engine of a real `sluice serve` against real sinks: a transport_maps file
 * routes each domain (and an `error:` entry bounces); a bad map line stops the start naming the
 * line; retries follow delivery.retry_schedule, each deferral a delay event with num_retries
 * counting up and the peer's reply as raw_reason, then one delivery; a recipient still deferred
 * after max_queue_lifetime bounces (class 24); X-MSYS-API options.ip_pool picks the source
 * address the sink sees; and DKIM keys from config sign what the sink receives (verified with
 * mailauth against the test's public key).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { searchEvents, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let dir: string;
let sink: Sink;
let sluice: SluiceProcess;
let publicKeyTxt: string;
/** How often the sink has been offered each recipient. */
const offered = new Map<string, number>();

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-outbound-'));
  sink = await startSink({
    replyFor(rcpt) {
      const count = (offered.get(rcpt) ?? 0) + 1;
      offered.set(rcpt, count);
      if (rcpt.startsWith('twice') && count <= 2) return [451, `4.3.0 Busy, attempt ${count}`];
      if (rcpt.startsWith('always')) return [452, '4.2.2 Mailbox full'];
      return undefined;
    },
  });
  const transport = path.join(dir, 'transport');
  writeFileSync(
    transport,
    [
      '# test routes',
      `routed.test      smtp:[127.0.0.1]:${sink.port}`,
      `.sub.routed.test smtp:[127.0.0.1]:${sink.port}`,
      'gone.test        error:5.1.2 this domain is gone',
      '',
    ].join('\n'),
  );
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = path.join(dir, 'dkim.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  publicKeyTxt = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
  sluice = await startSluice({
    overrides: {
      'delivery.transport_maps': transport,
      'delivery.retry_schedule': '[1s]',
      'delivery.retry_jitter': 0,
      'delivery.max_queue_lifetime': '4s',
      'delivery.ip_pools.bulk': '[127.0.0.3]',
      'delivery.dkim': `[{domain: signed.test, selector: s2026, key_file: "${keyFile}"}]`,
    },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

async function send(to: string, headers: string[] = [], from = 'app@example.com'): Promise<string> {
  const data = Buffer.from([`From: ${from}`, 'Subject: outbound', ...headers, '', 'body', ''].join('\r\n'));
  const result = await swaks({ port: sluice.smtpPort, from, to: [to], data });
  assert.equal(result.code, 0, result.stdout);
  assert.ok(result.queuedId, result.stdout);
  return result.queuedId;
}

async function eventsOf(id: string, done: (events: Record<string, unknown>[]) => boolean) {
  return (await waitFor(
    async () => {
      const events = await searchEvents(sluice.dataDir, { messageId: id });
      return done(events) ? events : undefined;
    },
    20_000,
    `events of ${id}`,
  ))!;
}

const receivedBy = (rcpt: string) => sink.messages.filter((m) => m.rcptTo.includes(rcpt));

test('the transport map routes a domain and its subdomains to their next hop', async () => {
  for (const rcpt of ['a@routed.test', 'b@x.sub.routed.test']) {
    const id = await send(rcpt);
    await eventsOf(id, (e) => e.some((x) => x.type === 'delivery'));
    assert.equal(receivedBy(rcpt).length, 1, rcpt);
  }
});

test('an error: entry bounces without connecting anywhere', async () => {
  const id = await send('someone@gone.test');
  const events = await eventsOf(id, (e) => e.some((x) => x.type === 'bounce'));
  const bounce = events.find((e) => e.type === 'bounce')!;
  assert.match(String(bounce.raw_reason), /this domain is gone/);
  assert.equal(offered.has('someone@gone.test'), false);
});

test('4xx twice, then 250: two delay events (num_retries 0, 1) with the reply, then one delivery', async () => {
  const id = await send('twice@routed.test');
  const events = await eventsOf(id, (e) => e.some((x) => x.type === 'delivery'));
  // Search answers newest first; order by attempt.
  const delays = events
    .filter((e) => e.type === 'delay')
    .sort((a, b) => Number(a.num_retries) - Number(b.num_retries));
  assert.deepEqual(
    delays.map((d) => [d.num_retries, d.error_code]),
    [
      ['0', '451'],
      ['1', '451'],
    ],
  );
  assert.match(String(delays[0]!.raw_reason), /451 4\.3\.0 Busy, attempt 1/);
  assert.match(String(delays[1]!.raw_reason), /451 4\.3\.0 Busy, attempt 2/);
  const delivery = events.find((e) => e.type === 'delivery')!;
  assert.equal(delivery.num_retries, '2');
  assert.equal(receivedBy('twice@routed.test').length, 1, 'delivered once');
});

test('still deferred after max_queue_lifetime: a bounce (class 24) after the delay events', async () => {
  const id = await send('always@routed.test');
  const events = await eventsOf(id, (e) => e.some((x) => x.type === 'bounce'));
  const delays = events.filter((e) => e.type === 'delay');
  const bounce = events.find((e) => e.type === 'bounce')!;
  assert.ok(delays.length >= 1, JSON.stringify(events));
  assert.ok(delays.every((d) => /452 4\.2\.2 Mailbox full/.test(String(d.raw_reason))));
  assert.equal(bounce.bounce_class, '24');
  assert.match(String(bounce.raw_reason), /expired/i);
  assert.equal(events.filter((e) => e.type === 'bounce').length, 1);
  assert.equal(receivedBy('always@routed.test').length, 0);
});

test('X-MSYS-API options.ip_pool picks the source address the sink sees', async () => {
  const pooled = await send('pooled@routed.test', ['X-MSYS-API: {"options":{"ip_pool":"bulk"}}']);
  const plain = await send('plain@routed.test');
  await eventsOf(pooled, (e) => e.some((x) => x.type === 'delivery'));
  await eventsOf(plain, (e) => e.some((x) => x.type === 'delivery'));
  assert.equal(receivedBy('pooled@routed.test')[0]?.remoteAddress, '127.0.0.3');
  assert.equal(receivedBy('plain@routed.test')[0]?.remoteAddress, '127.0.0.1');
});

test('mail from a domain with a DKIM key arrives signed, and the signature verifies', async () => {
  const id = await send('dkim@routed.test', [], 'news@signed.test');
  await eventsOf(id, (e) => e.some((x) => x.type === 'delivery'));
  const [received] = receivedBy('dkim@routed.test');
  assert.match(received!.text, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=signed\.test/);
  const resolver = async (name: string, type: string) => {
    if (type === 'TXT' && name === 's2026._domainkey.signed.test') return [[publicKeyTxt]];
    throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  };
  const { results } = await dkimVerify(received!.data, { resolver });
  assert.equal(results[0]?.status.result, 'pass', JSON.stringify(results[0]?.status));
  const unsigned = receivedBy('plain@routed.test')[0];
  assert.ok(unsigned && !/DKIM-Signature/i.test(unsigned.text), 'no key, no signature');
});

test('a bad transport map line stops the start with the file and line named', async () => {
  const bad = path.join(dir, 'bad-transport');
  writeFileSync(bad, 'ok.test smtp:[127.0.0.1]:25\n\nbroken.test lmtp:unix:/run/x\n');
  await assert.rejects(
    startSluice({ overrides: { 'delivery.transport_maps': bad } }).then(async (s) => {
      await s.stop();
      rmSync(s.dataDir, { recursive: true, force: true });
    }),
    (error: Error) => error.message.includes(`${bad}, line 3: transport "lmtp" is not supported`),
  );
});
