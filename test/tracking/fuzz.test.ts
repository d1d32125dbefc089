/**
 * Deterministic fuzzing of the MIME walk and the tracking transform: generated messages (nested
 * multiparts, random transfer encodings and charsets, CRLF/LF mixes, very long lines, binary
 * parts) and mutated corpus fixtures (truncated, boundaries dropped or cut, random bytes, line
 * ends swapped). Seeded, so a failure names the case that reproduces it. For every message:
 *  - push()/end() never throw, however the bytes are chunked, and the output does not depend on
 *    the chunking;
 *  - when nothing was tracked the output is the input, byte for byte;
 *  - the output parses with mailparser, with the same attachments (by hash) as the input.
 * Bounded: a fixed number of cases, each a few kilobytes (a few seconds in all).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { type TrackingOptions, TrackingTransform } from '../../src/tracking/mime.js';
import { TokenSigner } from '../../src/tracking/token.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../../test/fixtures/tracking');
const OPTIONS: TrackingOptions = {
  open: true,
  click: true,
  baseUrl: 'https://t.example',
  // A fixed clock: token expiry is in seconds, and a tick between two runs would change the bytes.
  signer: new TokenSigner(
    [{ id: 'f1', secret: 'fuzz-secret-0123456789' }],
    86_400_000,
    () => 1_700_000_000_000,
  ),
  messageId: '00ff00ff00ff',
  rcpt: 'fuzz@one.example',
  maxPartSize: 65_536,
};

/** mulberry32: small, fast, and the same sequence on every run for a seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}
type Rng = ReturnType<typeof rng>;

const CHARSETS = ['utf-8', 'us-ascii', 'iso-8859-1', 'windows-1252', 'iso-2022-jp', 'x-bogus', 'UTF-8'];
const CTES = ['7bit', '8bit', 'quoted-printable', 'base64', 'x-uuencode', 'BASE64'];
const TYPES = [
  'text/html',
  'text/plain',
  'application/octet-stream',
  'image/png',
  'text/calendar',
  'message/rfc822',
];
const SUBTYPES = ['mixed', 'alternative', 'related', 'signed'];

function htmlBody(r: Rng): string {
  const bits: string[] = ['<html><body>'];
  for (let i = r.int(8); i > 0; i--)
    bits.push(
      r.pick([
        `<a href="https://x${r.int(9)}.example/p?q=${r.int(1000)}&amp;r=1">link</a>`,
        `<A HREF=http://y.example/${'z'.repeat(r.int(300))}>up</A>`,
        '<a href="mailto:a@b.example">m</a>',
        '<!--[if mso]><a href="https://mso.example/">o</a><![endif]-->',
        `<p>${'text '.repeat(r.int(50))}</p>`,
        '<table><tr><td>',
        '<a href="https://unclosed.example/',
        '<a href="https://opt.example/" data-msys-clicktrack="0" data-msys-linkname="n">o</a>',
        'caf\u00e9 \u20ac',
      ]),
    );
  if (r.next() < 0.7) bits.push('</body></html>');
  return bits.join(r.pick(['', '\n', ' ']));
}

function encode(r: Rng, text: string, cte: string): string {
  const raw = Buffer.from(text, 'utf8');
  if (cte.toLowerCase() === 'base64') return raw.toString('base64').replace(/.{76}/g, '$&\n');
  if (cte === 'quoted-printable')
    return raw
      .toString('latin1')
      .replace(/[=\x80-\xff]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/.{70}/g, (line) => (r.next() < 0.8 ? `${line}=\n` : line));
  return text;
}

/** A random MIME entity (headers and body) nested up to `depth` multiparts deep. */
function entity(r: Rng, depth: number): string {
  if (depth > 0 && r.next() < 0.45) {
    const boundary = r.pick(['b', '=_x', `part${r.int(1e6)}`, '----=_Part_0']) + depth;
    const children = Array.from({ length: 1 + r.int(3) }, () => entity(r, depth - 1));
    const close = r.next() < 0.85 ? `--${boundary}--\n` : '';
    const quoted = r.next() < 0.5 ? `"${boundary}"` : boundary;
    return (
      `Content-Type: multipart/${r.pick(SUBTYPES)}; boundary=${quoted}\n\n` +
      (r.next() < 0.3 ? 'preamble https://pre.example/\n' : '') +
      children.map((c) => `--${boundary}\n${c}\n`).join('') +
      close +
      (r.next() < 0.3 ? 'epilogue\n' : '')
    );
  }
  const type = r.pick(TYPES);
  const cte = r.pick(CTES);
  const headers = [`Content-Type: ${type}; charset=${r.pick(CHARSETS)}`];
  if (r.next() < 0.8) headers.push(`Content-Transfer-Encoding: ${cte}`);
  if (r.next() < 0.2) headers.push('Content-Disposition: attachment; filename="f.bin"');
  let body: string;
  if (type === 'text/html') body = encode(r, htmlBody(r), cte);
  else if (type === 'text/plain')
    body = encode(r, `See https://t${r.int(9)}.example/a (b). ${'w '.repeat(r.int(600))}`, cte);
  else body = r.bytes(r.int(3000)).toString('base64').replace(/.{76}/g, '$&\n');
  return `${headers.join('\n')}\n\n${body}`;
}

function generated(r: Rng): Buffer {
  const top = `From: a@b.example\nTo: c@d.example\nSubject: fuzz\nMIME-Version: 1.0\n${entity(r, 3)}`;
  return Buffer.from(lineEnds(r, top), 'latin1');
}

function lineEnds(r: Rng, text: string): string {
  const style = r.int(3);
  if (style === 0) return text.replace(/\n/g, '\r\n');
  if (style === 1) return text;
  return text.replace(/\n/g, () => (r.next() < 0.5 ? '\r\n' : '\n'));
}

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.eml') && !f.startsWith('33-'))
  .map((f) => readFileSync(path.join(FIXTURES, f)));

function mutated(r: Rng): Buffer {
  let m = Buffer.from(r.pick(fixtures));
  for (let n = 1 + r.int(3); n > 0; n--) {
    const at = r.int(m.length + 1);
    switch (r.int(7)) {
      case 0: // truncate anywhere, boundaries and headers included
        m = m.subarray(0, at);
        break;
      case 1: // random bytes in the middle
        m = Buffer.concat([m.subarray(0, at), r.bytes(1 + r.int(40)), m.subarray(at)]);
        break;
      case 2: {
        // drop a boundary line, or cut one short
        const text = m.toString('latin1');
        const lines = text.split('\n');
        const idx = lines.findIndex((l, i) => i >= r.int(lines.length) && l.startsWith('--'));
        if (idx !== -1)
          lines[idx] = r.next() < 0.5 ? '' : lines[idx]!.slice(0, 1 + r.int(lines[idx]!.length));
        m = Buffer.from(lines.join('\n'), 'latin1');
        break;
      }
      case 3: // CRLF → LF or LF → CRLF
        m = Buffer.from(lineEnds(r, m.toString('latin1').replace(/\r\n/g, '\n')), 'latin1');
        break;
      case 4: // a very long line
        m = Buffer.concat([m.subarray(0, at), Buffer.alloc(2000 + r.int(20_000), 'a'), m.subarray(at)]);
        break;
      case 5: // a byte flipped
        if (m.length > 0) m[r.int(m.length)] = r.int(256);
        break;
      default: // a line duplicated
        m = Buffer.concat([m.subarray(0, at), m.subarray(at, at + r.int(200)), m.subarray(at)]);
    }
  }
  return m;
}

function run(input: Buffer, r: Rng | null): { out: Buffer; tracked: boolean } {
  const transform = new TrackingTransform(OPTIONS);
  const out: Buffer[] = [];
  if (r) {
    for (let i = 0; i < input.length; ) {
      const n = 1 + r.int(r.next() < 0.2 ? 4 : 4096);
      out.push(...transform.push(input.subarray(i, i + n)));
      i += n;
    }
  } else out.push(...transform.push(input));
  out.push(...transform.end());
  return { out: Buffer.concat(out), tracked: transform.result.tracked };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Checks one input; answers whether it was tracked. */
async function check(input: Buffer, r: Rng, label: string): Promise<boolean> {
  let whole: { out: Buffer; tracked: boolean };
  let chunked: { out: Buffer; tracked: boolean };
  try {
    whole = run(input, null);
    chunked = run(input, r);
  } catch (error) {
    assert.fail(`${label}: the transform threw: ${(error as Error).stack}`);
  }
  assert.ok(chunked.out.equals(whole.out), `${label}: chunking changed the output`);
  if (!whole.tracked) assert.ok(whole.out.equals(input), `${label}: untracked output differs from input`);
  const before = await simpleParser(input);
  const after = await simpleParser(whole.out);
  assert.deepEqual(
    after.attachments.map((a) => sha(a.content)),
    before.attachments.map((a) => sha(a.content)),
    `${label}: attachments changed`,
  );
  return whole.tracked;
}

describe('fuzzing the tracking transform (seeded)', () => {
  test('generated messages: nested multiparts, encodings, charsets, line ends', async () => {
    let tracked = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      if (await check(generated(r), r, `generated seed ${seed}`)) tracked++;
    }
    // Both paths are exercised: rewriting and declining.
    assert.ok(tracked > 50 && tracked < 250, `${tracked} of 300 tracked`);
  });

  test('mutated fixtures: truncated, boundaries lost, random bytes, long lines', async () => {
    let tracked = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(10_000 + seed);
      if (await check(mutated(r), r, `mutated seed ${seed}`)) tracked++;
    }
    assert.ok(tracked > 50 && tracked < 250, `${tracked} of 300 tracked`);
  });

  test('pure noise and degenerate inputs', async () => {
    const r = rng(99);
    const inputs = [
      Buffer.alloc(0),
      Buffer.from('\r\n'),
      Buffer.from('\n\n\n'),
      Buffer.from('Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n--x--'),
      Buffer.from('Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n'),
      Buffer.from('Content-Type: text/html\r\n\r\n<a href="https://x.example/'),
      Buffer.from(`Content-Type: text/html\r\n\r\n${'<a href=https://x.example/>'.repeat(2000)}`),
      Buffer.from(`Subject: ${'x'.repeat(100_000)}\r\n\r\nbody`),
      ...Array.from({ length: 50 }, () => r.bytes(r.int(5000))),
    ];
    for (const [i, input] of inputs.entries()) await check(input, r, `noise ${i}`);
  });
});
