/**
 * Specifies `sluice milter` inside a real Sendmail (Debian's 8.17, test/harness/sendmail.ts) built
 * from contrib/sendmail/sendmail.mc, with the same assertions as the Postfix test (header order
 * and folding compared loosely: Sendmail refolds and adds its own trace fields).
 * Stage 0: Sendmail relays to a recording sink and asks `sluice milter`: a valid X-MSYS-API is
 * removed, X-Sluice-Message-ID added, everything else the app wrote is delivered, the body byte
 * for byte; the events carry the header's values; tracking asked for gives a tracked HTML body;
 * an invalid header gets 550 5.6.0 naming the field at end of data; with the milter down, F=T
 * makes Sendmail tempfail (451 4.3.2) and keep nothing.
 * Stage 1: the same file with its SMART_HOST lines switched on hands mail to `sluice serve`
 * (whose milter, milter.with_serve, is the filter): delivered once, tracked once, one id.
 * Sendmail authenticates clients with Cyrus SASL, not with `sluice auth`: mail here comes from
 * relay.networks without a key, which the milter treats as an app's injection.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TokenSigner } from '../../src/tracking/token.js';
import { searchEvents, swaks } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { type SendmailInstance, startSendmail } from '../harness/sendmail.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let dir: string;
let dataDir: string;
let sink: Sink;
let milter: SluiceService;
let sendmail: SendmailInstance;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-sendmail-test-'));
  dataDir = path.join(dir, 'data');
  sink = await startSink();
  milter = await startSluiceService('milter', { dataDir });
  sendmail = await startSendmail({ milterPort: milter.port, smartHostPort: sink.port });
});

after(async () => {
  await sendmail?.stop();
  await milter?.stop();
  await sink?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const HTML = '<html><body><p>Hello <a href="https://example.com/x">there</a></p></body></html>';

function message(subject: string, msys: string[]): Buffer {
  return Buffer.from(
    [
      'From: "Shop" <app@example.com>',
      'To: you@example.net',
      `Subject: ${subject}`,
      ...msys.map((value) => `X-MSYS-API: ${value}`),
      'X-Keep-Me: folded',
      '  continuation',
      'MIME-Version: 1.0',
      'Content-Type: text/html; charset=utf-8',
      '',
      HTML,
      '',
    ].join('\r\n'),
  );
}

const send = (port: number, subject: string, msys: string[], to = ['you@example.net', 'other@example.org']) =>
  swaks({ port, from: 'app@example.com', to, data: message(subject, msys) });

const atSink = (subject: string) =>
  waitFor(() => sink.messages.find((m) => m.text.includes(`Subject: ${subject}\r\n`)), 30_000, subject);

/** A header section as [name, unfolded value] pairs, so Sendmail's refolding does not matter. */
function fields(text: string): Array<[string, string]> {
  const header = text.slice(0, text.indexOf('\r\n\r\n'));
  return header
    .replace(/\r\n(?=[ \t])/g, '')
    .split('\r\n')
    .map((line) => {
      const colon = line.indexOf(':');
      return [
        line.slice(0, colon),
        line
          .slice(colon + 1)
          .replace(/\s+/g, ' ')
          .trim(),
      ] as [string, string];
    });
}

const dataReply = (lines: string[]) => {
  const replies = lines.filter((l) => /^\d{3} /.test(l));
  return replies[replies.length - 2] ?? '';
};

describe('sluice milter in a real Sendmail (stage 0)', () => {
  test('the contrib .mc is what runs: INPUT_MAIL_FILTER with F=T, pointed at this test’s milter', () => {
    assert.match(sendmail.mc, /INPUT_MAIL_FILTER\(`sluice', `S=inet:\d+@127\.0\.0\.1, F=T, /);
    assert.match(
      readFileSync(path.join(sendmail.dir, 'sendmail.cf'), 'utf8'),
      /^O InputMailFilters=sluice$/m,
    );
  });

  test('a valid X-MSYS-API is applied: header removed, X-Sluice-Message-ID added, the rest intact', async () => {
    const msys = '{"campaign_id":"spring","tags":["a","b"],"metadata":{"user":42}}';
    const sent = await send(sendmail.port, 'valid 1', [msys]);
    assert.equal(sent.code, 0, sent.stdout);
    const delivered = (await atSink('valid 1'))!;
    assert.doesNotMatch(delivered.text, /X-MSYS-API/i);
    const got = fields(delivered.text);
    const ids = got.filter(([name]) => name === 'X-Sluice-Message-ID').map(([, v]) => v);
    assert.equal(ids.length, 1);
    const id = ids[0]!;
    assert.match(id, /^[0-9a-f]{20}$/);
    // Every field the app wrote is there, in the app's order (Sendmail adds its own around them).
    const sentFields = fields(message('valid 1', []).toString());
    const positions = sentFields.map((f) => got.findIndex(([n, v]) => n === f[0] && v === f[1]));
    for (const [i, at] of positions.entries()) assert.ok(at >= 0, `missing ${sentFields[i]}`);
    assert.deepEqual(
      [...positions].sort((a, b) => a - b),
      positions,
      'order kept',
    );
    assert.ok(delivered.text.endsWith(`\r\n\r\n${HTML}\r\n`), 'body byte for byte');

    const events = await searchEvents(dataDir, { type: 'injection', messageId: id });
    assert.deepEqual(events.map((e) => e.rcpt_to).sort(), ['other@example.org', 'you@example.net']);
    for (const event of events) {
      assert.equal(event.campaign_id, 'spring');
      assert.deepEqual(event.rcpt_tags, ['a', 'b']);
      assert.deepEqual(event.rcpt_meta, { user: 42 });
      assert.equal(event.api_key_id, null);
      assert.equal(event.subject, 'valid 1');
      assert.equal(event.friendly_from, 'app@example.com');
      assert.equal(event.msg_from, 'app@example.com');
      assert.equal(event.ip_address, '127.0.0.1');
    }
  });

  test('tracking on: the delivered HTML is tracked, tokens name the message and its sole recipient', async () => {
    const msys = '{"options":{"open_tracking":true,"click_tracking":true}}';
    const sent = await send(sendmail.port, 'tracked 1', [msys], ['solo@example.net']);
    assert.equal(sent.code, 0, sent.stdout);
    const delivered = (await atSink('tracked 1'))!;
    const id = fields(delivered.text).find(([n]) => n === 'X-Sluice-Message-ID')?.[1];
    const keys = JSON.parse(readFileSync(path.join(dataDir, 'tracking', 'keys.json'), 'utf8'));
    const signer = new TokenSigner(keys, 86_400_000);
    const tokens = [...delivered.text.matchAll(/http:\/\/127\.0\.0\.1:8080\/[fq]\/([A-Za-z0-9_-]+)/g)].map(
      (m) => signer.verify(m[1]!),
    );
    assert.deepEqual(tokens.map((t) => t?.kind).sort(), ['click', 'initial_open', 'open']);
    for (const token of tokens) {
      assert.equal(token!.messageId, id);
      assert.equal(token!.rcpt, 'solo@example.net');
    }
  });

  test('an invalid X-MSYS-API gets 550 5.6.0 naming the field at end of data; nothing is delivered', async () => {
    const bad = await send(sendmail.port, 'invalid 1', ['{"tags":"not-a-list"}']);
    assert.match(dataReply(bad.serverLines), /^550 5\.6\.0 X-MSYS-API: tags must be an array of strings/);
    const json = await send(sendmail.port, 'invalid 2', ['{nope']);
    assert.match(dataReply(json.serverLines), /^550 5\.6\.0 X-MSYS-API: invalid JSON/);
    await send(sendmail.port, 'after invalid', []);
    await atSink('after invalid');
    assert.equal(
      sink.messages.some((m) => m.text.includes('Subject: invalid')),
      false,
    );
  });

  test('milter down: F=T makes Sendmail tempfail (451 4.3.2), nothing is queued', async () => {
    assert.equal(await milter.stop(), 0, milter.output());
    const sent = await send(sendmail.port, 'down 1', ['{}']);
    assert.ok(
      sent.serverLines.some((l) => /^451 4\.3\.2 /.test(l)),
      sent.stdout,
    );
    assert.doesNotMatch(sent.stdout, /Message accepted for delivery/);
    assert.deepEqual(sendmail.queueFiles(), []);
  });
});

describe('Sendmail in front of sluice serve (stage 1), serve’s milter as the filter', () => {
  let serve: SluiceProcess;
  let front: SendmailInstance;
  before(async () => {
    const milterPort = await freePort();
    serve = await startSluice({
      overrides: {
        'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
        'delivery.tls': 'none',
        'milter.with_serve': true,
        'milter.listen': `inet:127.0.0.1:${milterPort}`,
      },
    });
    front = await startSendmail({ milterPort, smartHostPort: serve.smtpPort });
  });
  after(async () => {
    await front?.stop();
    await serve?.stop();
    if (serve) rmSync(serve.dataDir, { recursive: true, force: true });
  });

  test('delivered once through Sluice, tracked once, under the id the milter gave it', async () => {
    const msys = '{"campaign_id":"s1","options":{"click_tracking":true}}';
    const sent = await send(front.port, 'stage one', [msys], ['solo@example.net']);
    assert.equal(sent.code, 0, sent.stdout);
    const delivered = (await atSink('stage one'))!;
    assert.match(delivered.text, /by sendmail\.sluice\.test/, 'came through Sendmail');
    const ids = fields(delivered.text).filter(([n]) => n === 'X-Sluice-Message-ID');
    assert.equal(ids.length, 1);
    const id = ids[0]![1];
    const links = [...delivered.text.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
    assert.equal(links.length, 1);
    assert.match(links[0]!, /^http:\/\/127\.0\.0\.1:8080\/f\/[A-Za-z0-9_-]+$/);
    await waitFor(
      async () => (await searchEvents(serve.dataDir, { type: 'delivery', messageId: id })).length > 0,
      30_000,
      'delivery event',
    );
    const events = await searchEvents(serve.dataDir, { messageId: id });
    assert.deepEqual(events.map((e) => e.type).sort(), ['delivery', 'injection']);
    assert.equal(events.find((e) => e.type === 'injection')!.campaign_id, 's1');
  });
});
