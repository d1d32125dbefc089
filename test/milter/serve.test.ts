/**
 * Specifies `sluice serve` running the milter too (milter.with_serve) and the id hand-over
 * between the milter and a downstream Sluice: a real Postfix asks serve's milter about each
 * message (stage 0) and relays it to serve's smtp listener (stage 1), which delivers to a sink.
 * The message keeps the id the milter gave it (X-Sluice-Message-ID): its links are tracked once,
 * not wrapped twice; its injection is recorded once (by the milter, with the X-MSYS-API values)
 * and its delivery under the same id, with the campaign, tags, metadata and options the milter
 * recorded (the store is shared). An app cannot choose the id with the header: through
 * Postfix the milter removes the app's header; talking to serve directly with a key, the header
 * is not believed and the message gets a new id.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createKey, searchEvents, swaks } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
let postfix: PostfixInstance;
let milterPort: number;

before(async () => {
  sink = await startSink();
  milterPort = await freePort();
  sluice = await startSluice({
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'delivery.tls': 'none',
      'milter.with_serve': true,
      'milter.listen': `inet:127.0.0.1:${milterPort}`,
    },
  });
  postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sluice.smtpPort}`,
    extraMainCf: {
      smtpd_milters: `inet:127.0.0.1:${milterPort}`,
      milter_default_action: 'tempfail',
      milter_protocol: '6',
    },
  });
});

after(async () => {
  await postfix?.stop();
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

const message = (subject: string, extra: string[] = []) =>
  Buffer.from(
    [
      'From: app@example.com',
      'To: solo@example.net',
      `Subject: ${subject}`,
      ...extra,
      'MIME-Version: 1.0',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<html><body><a href="https://example.com/once">once</a></body></html>',
      '',
    ].join('\r\n'),
  );

const atSink = (subject: string) =>
  waitFor(() => sink.messages.find((m) => m.text.includes(`Subject: ${subject}\r\n`)), 30_000, subject);

describe('sluice serve with milter.with_serve, behind and in front of Postfix', () => {
  test('the milter’s id is kept downstream: tracked once, one injection, delivery under the same id', async () => {
    const msys =
      'X-MSYS-API: {"campaign_id":"c9","tags":["t1","t2"],"metadata":{"order":42},' +
      '"options":{"click_tracking":true,"transactional":true}}';
    const sent = await swaks({
      port: postfix.port,
      from: 'app@example.com',
      to: ['solo@example.net'],
      data: message('both stages', [msys]),
    });
    assert.equal(sent.code, 0, `${sent.stdout}\n${sluice.output()}`);
    const delivered = (await atSink('both stages'))!;
    const ids = [...delivered.text.matchAll(/\r\nX-Sluice-Message-ID: ([0-9a-f]{20})\r\n/g)].map((m) => m[1]);
    assert.equal(ids.length, 1, delivered.text);
    const id = ids[0]!;
    const links = [...delivered.text.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
    assert.equal(links.length, 1);
    assert.match(links[0]!, /^http:\/\/127\.0\.0\.1:8080\/f\/[A-Za-z0-9_-]+$/, 'wrapped exactly once');
    assert.doesNotMatch(delivered.text, /X-MSYS-API/i);

    await waitFor(
      async () => (await searchEvents(sluice.dataDir, { type: 'delivery', messageId: id })).length > 0,
      30_000,
      'delivery event',
    );
    const events = await searchEvents(sluice.dataDir, { messageId: id });
    assert.deepEqual(events.map((e) => e.type).sort(), ['delivery', 'injection']);
    const injection = events.find((e) => e.type === 'injection')!;
    assert.equal(injection.campaign_id, 'c9');
    assert.equal(injection.rcpt_to, 'solo@example.net');
    // The header is gone by then: the delivery takes what X-MSYS-API said from the injection event.
    const delivery = events.find((e) => e.type === 'delivery')!;
    for (const field of [
      'campaign_id',
      'rcpt_tags',
      'rcpt_meta',
      'transactional',
      'api_key_id',
      'transmission_id',
    ])
      assert.deepEqual(delivery[field], injection[field], field);
    assert.deepEqual(delivery.rcpt_tags, ['t1', 't2']);
    assert.deepEqual(delivery.rcpt_meta, { order: 42 });
    assert.equal(delivery.transactional, '1');
  });

  test('an X-Sluice-Message-ID the app wrote is removed by the milter: only the milter’s id travels', async () => {
    const forged = 'bbbbbbbbbbbbbbbbbbbb';
    const sent = await swaks({
      port: postfix.port,
      from: 'app@example.com',
      to: ['solo@example.net'],
      data: message('forged via postfix', [`X-Sluice-Message-ID: ${forged}`]),
    });
    assert.equal(sent.code, 0, sent.stdout);
    const delivered = (await atSink('forged via postfix'))!;
    const ids = [...delivered.text.matchAll(/\r\nX-Sluice-Message-ID: ([0-9a-f]{20})\r\n/gi)].map(
      (m) => m[1]!,
    );
    assert.equal(ids.length, 1, delivered.text);
    assert.notEqual(ids[0], forged);
    await waitFor(
      async () => (await searchEvents(sluice.dataDir, { type: 'delivery', messageId: ids[0]! })).length > 0,
      30_000,
      'delivery under the milter’s id',
    );
    assert.equal((await searchEvents(sluice.dataDir, { messageId: forged })).length, 0);
  });

  test('an app with a key talking to serve directly does not choose its id with the header', async () => {
    const key = await createKey(sluice.dataDir);
    const forged = 'aaaaaaaaaaaaaaaaaaaa';
    const sent = await swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['solo@example.net'],
      data: message('forged id', [`X-Sluice-Message-ID: ${forged}`]),
      tls: true,
      auth: { user: 'SMTP_Injection', password: key.key },
    });
    assert.equal(sent.code, 0, sent.stdout);
    const id = sent.queuedId!;
    assert.notEqual(id, forged);
    await atSink('forged id');
    assert.equal((await searchEvents(sluice.dataDir, { messageId: forged })).length, 0);
    const events = await searchEvents(sluice.dataDir, { type: 'injection', messageId: id });
    assert.equal(events.length, 1);
  });
});
