/**
 * Specifies the quoted-printable codec the rewrite uses (src/tracking/qp.ts):
 *  - decodeQp reads exactly what the byte decoder it replaced read (kept below as the oracle) and
 *    what libqp (mailparser's decoder) reads, on random encoded text: soft breaks with CRLF, bare
 *    LF and padding, lowercase hex, lone "=", trailing blanks; `starts` points at each decoded
 *    byte's encoding;
 *  - spliceQp gives an encoded body whose decoding is the decoded body with the edits applied, on
 *    random encoded input and random edits (insertions, deletions, replacements, several at one
 *    offset); outside the edits the encoded bytes are kept, lines of an input within 76
 *    characters stay within 76 (lines at exactly 76, soft breaks inside URLs), and when it cannot
 *    keep that it answers null (the caller re-encodes).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import libqp from 'libqp';
import { encodeQp } from '../../src/tracking/encoding.js';
import { type ByteEdit, decodeQp, QpOffsets, spliceQp } from '../../src/tracking/qp.js';

/** The decoder qp.ts replaced, verbatim in behaviour: the oracle. */
function oldDecode(body: Buffer): Buffer {
  const hexValue = (c: number) =>
    c >= 0x30 && c <= 0x39
      ? c - 0x30
      : c >= 0x41 && c <= 0x46
        ? c - 0x37
        : c >= 0x61 && c <= 0x66
          ? c - 0x57
          : -1;
  const out = Buffer.allocUnsafe(body.length);
  let n = 0;
  const length = body.length;
  for (let i = 0; i < length; i++) {
    const c = body[i]!;
    if (c === 0x20 || c === 0x09) {
      let j = i;
      while (j < length && (body[j] === 0x20 || body[j] === 0x09)) j++;
      if (j === length || body[j] === 0x0a || (body[j] === 0x0d && body[j + 1] === 0x0a)) {
        i = j - 1;
        continue;
      }
      for (; i < j; i++) out[n++] = body[i]!;
      i--;
      continue;
    }
    if (c === 0x3d) {
      const a = body[i + 1];
      if (a === 0x0d && body[i + 2] === 0x0a) {
        i += 2;
        continue;
      }
      if (a === 0x0a) {
        i += 1;
        continue;
      }
      if (a === 0x20 || a === 0x09) {
        let j = i + 1;
        while (j < length && (body[j] === 0x20 || body[j] === 0x09)) j++;
        if (j === length || body[j] === 0x0a || (body[j] === 0x0d && body[j + 1] === 0x0a)) {
          i = body[j] === 0x0d ? j + 1 : j;
          continue;
        }
      }
      const hi = a === undefined ? -1 : hexValue(a);
      const lo = i + 2 < length ? hexValue(body[i + 2]!) : -1;
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  return out.subarray(0, n);
}

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    return (x >>> 8) % n;
  };
}

/** Raw encoded-looking text: mostly printable, with the pieces decoders disagree on mixed in. */
function messyQp(seed: number, length: number): Buffer {
  const r = rng(seed);
  const pieces = [
    '=\r\n',
    '=\n',
    '= \r\n',
    '=\t \r\n',
    '=3D',
    '=3d',
    '=E2=82=AC',
    '=',
    '=G1',
    ' \r\n',
    '\t\r\n',
    ' ',
    '\r\n',
    '\n',
    '\r',
    '=0D=0A',
    '  x',
  ];
  let s = '';
  while (s.length < length) s += r(4) === 0 ? pieces[r(pieces.length)] : String.fromCharCode(0x21 + r(94));
  return Buffer.from(s, 'latin1');
}

/** A well-formed encoded HTML-ish body, as senders write it: lines of at most 76, some exactly 76. */
function htmlLikeQp(seed: number): Buffer {
  const r = rng(seed);
  const words = [
    '<a href="https://shop.example/p/1?utm_source=news&amp;x=1">',
    'Caf\u00e9 ',
    '\u20ac12 ',
    '</a>',
    '<td style="padding:0">',
    '\n',
    'text ',
    '  ',
  ];
  let s = '';
  for (let i = 0; i < 60 + r(200); i++) s += words[r(words.length)];
  return encodeQp(Buffer.from(s.replace(/\n/g, '\r\n'), 'utf8'));
}

function randomEdits(r: (n: number) => number, length: number): ByteEdit[] {
  const points = Array.from({ length: r(8) * 2 }, () => r(length + 1)).sort((a, b) => a - b);
  const edits: ByteEdit[] = [];
  const texts = [
    '',
    'https://t.example/f/AbC_-123',
    '<img src="https://t.example/q/x" width="1" />',
    'x'.repeat(200),
  ];
  for (let i = 0; i < points.length; i += 2) {
    edits.push({
      start: points[i]!,
      end: r(3) === 0 ? points[i]! : points[i + 1]!,
      text: texts[r(texts.length)]!,
    });
  }
  return edits;
}

function applyEdits(bytes: Buffer, edits: readonly ByteEdit[]): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (const e of edits) {
    out.push(bytes.subarray(at, e.start), Buffer.from(e.text, 'latin1'));
    at = e.end;
  }
  out.push(bytes.subarray(at));
  return Buffer.concat(out);
}

/** A CRLF-aware split into line contents. */
const lines = (b: Buffer) => b.toString('latin1').split(/\r?\n/);

/** An edit boundary must not split a decoded CRLF (the tokenizer never does: edits are at tag ends). */
function avoidCrlf(bytes: Buffer, edits: ByteEdit[]): ByteEdit[] {
  const inside = (p: number) => p > 0 && bytes[p - 1] === 0x0d && bytes[p] === 0x0a;
  return edits
    .map((e) => ({
      ...e,
      start: inside(e.start) ? e.start - 1 : e.start,
      end: inside(e.end) ? e.end + 1 : e.end,
    }))
    .filter((e, i, all) => e.start <= e.end && (i === 0 || e.start >= all[i - 1]!.end));
}

describe('decodeQp', () => {
  test('reads what the byte decoder it replaced read, and what libqp reads, on messy input', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const body = messyQp(seed, seed % 400);
      const starts = new QpOffsets();
      const decoded = decodeQp(body, starts);
      assert.deepEqual(decoded, oldDecode(body), `seed ${seed}`);
      assert.equal(starts.encodedOf(decoded.length), body.length);
      for (let i = 0; i < decoded.length; i++) {
        assert.ok(i === 0 || starts.encodedOf(i) > starts.encodedOf(i - 1), `starts increase, seed ${seed}`);
        const at = starts.encodedOf(i);
        // A decoded byte comes from the byte at its start, or from "=XX" / a lone "=" there.
        assert.ok(body[at] === decoded[i] || body[at] === 0x3d, `seed ${seed} byte ${i}`);
      }
    }
  });

  test('agrees with libqp on well-formed bodies', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const body = htmlLikeQp(seed);
      assert.deepEqual(decodeQp(body), libqp.decode(body.toString('latin1')), `seed ${seed}`);
    }
  });
});

describe('spliceQp', () => {
  test('decodes to the decoded body with the edits applied, and keeps lines within 76', () => {
    let spliced = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const r = rng(seed * 7);
      const body = htmlLikeQp(seed);
      const starts = new QpOffsets();
      const decoded = decodeQp(body, starts);
      const edits = avoidCrlf(decoded, randomEdits(r, decoded.length));
      const out = spliceQp(body, starts, edits);
      if (out === null) continue; // the caller re-encodes; checked below that this is rare
      spliced++;
      assert.deepEqual(decodeQp(out), applyEdits(decoded, edits), `seed ${seed}`);
      assert.deepEqual(
        libqp.decode(out.toString('latin1')),
        applyEdits(decoded, edits),
        `libqp, seed ${seed}`,
      );
      for (const line of lines(out)) assert.ok(line.length <= 76, `seed ${seed}: ${line.length}: ${line}`);
    }
    assert.ok(spliced > 2700, `spliced ${spliced} of 3000`);
  });

  test('on messy input the decoding is still exact (or null)', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const r = rng(seed * 13);
      const body = messyQp(seed, seed % 500);
      const starts = new QpOffsets();
      const decoded = decodeQp(body, starts);
      const edits = avoidCrlf(decoded, randomEdits(r, decoded.length));
      const out = spliceQp(body, starts, edits);
      if (out !== null) assert.deepEqual(decodeQp(out), applyEdits(decoded, edits), `seed ${seed}`);
    }
  });

  test('bytes outside the edits stay encoded as they were; an insert sits on lines of its own', () => {
    const url = 'https://shop.example/products/item-1234?utm_source=newsletter&utm_medium=email';
    const html = `<p>Hello</p><a href="${url}">Shop</a><p>${'x'.repeat(100)}</p>`;
    const body = encodeQp(Buffer.from(html, 'latin1'));
    // The URL is long enough that the encoder put a soft break inside it.
    assert.ok(body.toString('latin1').includes('=\r\n'));
    const starts = new QpOffsets();
    decodeQp(body, starts);
    const start = html.indexOf(url);
    const edit = { start, end: start + url.length, text: 'https://t.example/f/TOKEN' };
    const out = spliceQp(body, starts, [edit])!;
    assert.equal(decodeQp(out).toString('latin1'), html.replace(url, edit.text));
    const text = out.toString('latin1');
    assert.ok(text.startsWith(body.subarray(0, starts.encodedOf(start)).toString('latin1')));
    assert.ok(text.endsWith(body.subarray(starts.encodedOf(start + url.length)).toString('latin1')));
    assert.ok(text.includes('=\r\nhttps://t.example/f/TOKEN=\r\n'));
  });

  test('a line at exactly 76 characters before a hard break: null, not a 77-character line', () => {
    const line = 'a'.repeat(76);
    const body = Buffer.from(`${line}\r\nnext`, 'latin1');
    const starts = new QpOffsets();
    decodeQp(body, starts);
    assert.equal(spliceQp(body, starts, [{ start: 76, end: 76, text: 'https://t.example/q/P' }]), null);
    // One character earlier fits: 75 + "=".
    const out = spliceQp(body, starts, [{ start: 75, end: 75, text: 'X' }])!;
    assert.equal(decodeQp(out).toString('latin1'), `${'a'.repeat(75)}Xa\r\nnext`);
    for (const l of lines(out)) assert.ok(l.length <= 76);
  });

  test('transport padding before a line end is dropped, not turned into text by the soft break', () => {
    const body = Buffer.from('abc  \r\ndef', 'latin1');
    const starts = new QpOffsets();
    const decoded = decodeQp(body, starts);
    assert.equal(decoded.toString('latin1'), 'abc\r\ndef');
    const out = spliceQp(body, starts, [{ start: 3, end: 3, text: 'X' }])!;
    assert.equal(decodeQp(out).toString('latin1'), 'abcX\r\ndef');
  });
});
