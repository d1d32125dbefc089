/**
 * Specifies details of the message-level transform: QP soft breaks inside URLs, charsets, base64
 * line lengths, bytes outside rewritten parts, size limits, and that chunking never changes the
 * output (over every fixture). The per-fixture expectations live in corpus.test.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { type TrackingOptions, TrackingTransform, trackMessage } from '../../src/tracking/mime.js';
import { TokenSigner } from '../../src/tracking/token.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../../test/fixtures/tracking');
const signer = new TokenSigner(
  [{ id: 't1', secret: 'test-secret-0123456789' }],
  86_400_000,
  () => 1_700_000_000_000,
);
const OPTIONS: TrackingOptions = {
  open: true,
  click: true,
  baseUrl: 'https://t.example',
  signer,
  messageId: '0190a1b2c3d4e5f60718',
  rcpt: 'alice@one.example',
  maxPartSize: 1_048_576,
};

const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));
const TRACKED = /https:\/\/t\.example\/f\/([A-Za-z0-9_-]+)/g;

const ALL_FIXTURES = readdirSync(FIXTURES).filter((f) => f.endsWith('.eml'));

describe('transform details', () => {
  test('QP soft breaks inside a URL: the whole URL is tracked, and it re-encodes as QP', async () => {
    const original = fixture('02-alternative-qp.eml');
    assert.match(original.toString(), /=\r\n/, 'the fixture does break a URL');
    const { message } = await trackMessage(original, OPTIONS);
    const parsed = await simpleParser(message);
    const urls = [...(parsed.html || '').matchAll(TRACKED)].map(([, t]) => signer.verify(t!)?.url);
    assert.ok(urls[0]?.endsWith('campaign=spring-sale-2024&variant=b'));
    for (const line of message.toString('latin1').split('\r\n')) assert.ok(line.length <= 998);
    assert.match(message.toString(), /Content-Transfer-Encoding: quoted-printable\r\n\r\n[^\r\n]*=\r\n/);
  });

  test('ISO-8859-1 and windows-1252: text keeps its bytes, link targets are read in the charset', async () => {
    const latin = await trackMessage(fixture('05-latin1-qp.eml'), OPTIONS);
    const parsed = await simpleParser(latin.message);
    assert.match(parsed.html || '', /Grüße aus München/);
    const urls = [...(parsed.html || '').matchAll(TRACKED)].map(([, t]) => signer.verify(t!)?.url);
    assert.deepEqual(urls, ['https://münchen.example/café', 'https://shop.example/de']);
    const win = await simpleParser(
      (await trackMessage(fixture('06-windows-1252-8bit.eml'), OPTIONS)).message,
    );
    assert.match(win.html || '', /Price: € 10 – “great”/);
  });

  test('base64 parts stay base64 with 76-character lines', async () => {
    const { message } = await trackMessage(fixture('03-mixed-alternative-attachment.eml'), OPTIONS);
    const html = message.toString('latin1').split('Content-Transfer-Encoding: base64\r\n\r\n')[1]!;
    const lines = html.slice(0, html.indexOf('\r\n--ALT--')).split('\r\n');
    assert.ok(lines.length > 1 && lines.slice(0, -1).every((l) => l.length === 76));
  });

  test('bytes outside the rewritten part are identical', async () => {
    const original = fixture('03-mixed-alternative-attachment.eml');
    const { message } = await trackMessage(original, OPTIONS);
    const tail = original.subarray(original.indexOf('--ALT--'));
    assert.ok(message.subarray(message.length - tail.length).equals(tail), 'everything after the HTML part');
    const marker = 'Content-Type: text/plain; charset=us-ascii\r\n\r\n';
    const head = original.subarray(0, original.indexOf(marker) + marker.length);
    assert.ok(message.subarray(0, head.length).equals(head), 'everything before the text part');
  });

  test('chunking does not change the output (one byte at a time)', () => {
    for (const name of ALL_FIXTURES) {
      const original = fixture(name);
      const whole = new TrackingTransform(OPTIONS);
      const a = Buffer.concat([...whole.push(original), ...whole.end()]);
      const bytewise = new TrackingTransform(OPTIONS);
      const out: Buffer[] = [];
      for (let i = 0; i < original.length; i++) out.push(...bytewise.push(original.subarray(i, i + 1)));
      out.push(...bytewise.end());
      assert.ok(Buffer.concat(out).equals(a), name);
    }
  });

  test('a text part over maxPartSize passes untouched, with the reason', async () => {
    const original = fixture('01-simple-html.eml');
    const result = await trackMessage(original, { ...OPTIONS, maxPartSize: 100 });
    assert.ok(result.message.equals(original));
    assert.equal(result.tracked, false);
    assert.match(result.reasons[0]!, /larger than 100 bytes/);
  });

  test('a stream input gives the same result as a Buffer', async () => {
    const original = fixture('02-alternative-qp.eml');
    async function* chunks() {
      for (let i = 0; i < original.length; i += 7) yield original.subarray(i, i + 7);
    }
    const a = await trackMessage(original, OPTIONS);
    const b = await trackMessage(chunks(), OPTIONS);
    assert.ok(a.message.equals(b.message));
  });
});

test('a part without a blank line does not swallow the next boundary', async () => {
  const original = Buffer.from(
    'Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n' +
      '--B\r\nContent-Type: text/html\r\n\r\n<body><a href="https://a.example/">a</a></body>\r\n--B--\r\n',
  );
  const result = await trackMessage(original, OPTIONS);
  assert.equal(result.links, 1);
  assert.equal(result.pixels, 2, 'the HTML part is rewritten as HTML');
});
