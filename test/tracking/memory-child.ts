/**
 * Child process for memory.test.ts (run with --expose-gc): streams a generated message of about
 * `size` bytes through TrackingTransform in 64 KB chunks without ever holding it whole — a 60 KB
 * HTML newsletter, an inline text/plain part of `inlineText` bytes, then base64 attachments for
 * the rest — and prints one JSON line: bytes in and out, links and pixels, reasons, SHA-256
 * of the attachment bytes in and out, live memory (heap + Buffers) and RSS before, and their
 * peaks while streaming (sampled after a full GC every 1 MB).
 */
import { createHash } from 'node:crypto';
import { TrackingTransform } from '../../src/tracking/mime.js';
import { TokenSigner } from '../../src/tracking/token.js';

const size = Number(process.argv[2] ?? 26_214_400);
const maxPartSize = Number(process.argv[3] ?? 5_242_880);
/** Inline text bytes after the newsletter: above maxPartSize, the transform holds the part up to the limit. */
const inlineText = Number(process.argv[4] ?? 0);
const CHUNK = 65_536;

/** The message, as a sequence of pieces made on demand. */
function* message(): Generator<Buffer> {
  const html = [
    '<html><body><table>',
    ...Array.from(
      { length: 600 },
      (_, i) => `<tr><td><a href="https://shop.example/p/${i}">Item ${i}</a></td></tr>`,
    ),
    '</table></body></html>',
  ].join('\r\n');
  yield Buffer.from(
    'From: news@shop.example\r\nTo: alice@one.example\r\nSubject: big\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: multipart/mixed; boundary="MIX"\r\n\r\n--MIX\r\n' +
      `Content-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n--MIX\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n\r\n',
  );
  // An inline text part larger than maxPartSize: held up to the limit, then passed on.
  const line = Buffer.from(`${'log line https://logs.example/x '.repeat(3)}\r\n`);
  for (let n = 0; n < inlineText; n += line.length) yield line;
  yield Buffer.from('--MIX\r\n');
  let seed = 1;
  for (let part = 0, sent = inlineText; sent < size; part++) {
    yield Buffer.from(
      `Content-Type: application/octet-stream; name="a${part}.bin"\r\n` +
        `Content-Disposition: attachment; filename="a${part}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n`,
    );
    // 57 raw bytes make one 76-character base64 line.
    for (let i = 0; i < 40_000 && sent < size; i++, sent += 78) {
      const raw = Buffer.alloc(57);
      for (let b = 0; b < 57; b++) {
        seed = (seed * 1_103_515_245 + 12_345) >>> 0;
        raw[b] = seed >>> 24;
      }
      attachmentsIn.update(raw);
      yield Buffer.from(`${raw.toString('base64')}\r\n`);
    }
    yield Buffer.from('--MIX\r\n');
  }
  yield Buffer.from('Content-Type: text/plain\r\n\r\nend\r\n--MIX--\r\n');
}

/** Groups the pieces into CHUNK-sized buffers, as a socket would deliver them. */
function* chunks(): Generator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for (const piece of message()) {
    pending.push(piece);
    length += piece.length;
    if (length >= CHUNK) {
      yield Buffer.concat(pending);
      pending = [];
      length = 0;
    }
  }
  if (length > 0) yield Buffer.concat(pending);
}

const attachmentsIn = createHash('sha256');
const attachmentsOut = createHash('sha256');
/** Decodes base64 lines of attachment parts in the output, to compare with what went in. */
let inAttachment = false;
let carry = '';
function scan(out: Buffer): void {
  const text = carry + out.toString('latin1');
  const lines = text.split('\r\n');
  carry = lines.pop()!;
  for (const l of lines) {
    if (l.startsWith('Content-Disposition: attachment')) inAttachment = true;
    else if (l.startsWith('--MIX')) inAttachment = false;
    else if (inAttachment && /^[A-Za-z0-9+/]{76}$/.test(l)) attachmentsOut.update(Buffer.from(l, 'base64'));
  }
}

/** The measurement; runs only when memory.test.ts starts this file (the test runner imports it too). */
function measure(gc: () => void): void {
  gc();
  const before = process.memoryUsage();
  let peakHeap = before.heapUsed + before.arrayBuffers;
  let peakRss = before.rss;
  let bytesIn = 0;
  let bytesOut = 0;
  const transform = new TrackingTransform({
    open: true,
    click: true,
    baseUrl: 'https://t.example',
    signer: new TokenSigner([{ id: 'm1', secret: 'memory-secret-0123456789' }], 86_400_000),
    messageId: '0abc',
    rcpt: 'alice@one.example',
    maxPartSize,
  });
  const emit = (outs: Buffer[]) => {
    for (const o of outs) {
      bytesOut += o.length;
      scan(o);
    }
  };
  let count = 0;
  for (const chunk of chunks()) {
    bytesIn += chunk.length;
    emit(transform.push(chunk));
    // Every 1 MB, a full GC first: what is measured is what the transform keeps alive (heap and
    // Buffers), not garbage the collector has not got round to yet.
    if (++count % 16 === 0) {
      gc();
      const now = process.memoryUsage();
      peakHeap = Math.max(peakHeap, now.heapUsed + now.arrayBuffers);
      peakRss = Math.max(peakRss, now.rss);
    }
  }
  emit(transform.end());
  process.stdout.write(
    `${JSON.stringify({
      bytesIn,
      bytesOut,
      links: transform.result.links,
      pixels: transform.result.pixels,
      reasons: transform.result.reasons,
      attachmentsIn: attachmentsIn.digest('hex'),
      attachmentsOut: attachmentsOut.digest('hex'),
      heapBefore: before.heapUsed + before.arrayBuffers,
      rssBefore: before.rss,
      peakHeap,
      peakRss,
    })}\n`,
  );
}

const gc = (globalThis as { gc?: () => void }).gc;
if (process.env.SLUICE_MEMORY_CHILD === '1') {
  if (!gc) throw new Error('run with --expose-gc');
  measure(gc);
}
