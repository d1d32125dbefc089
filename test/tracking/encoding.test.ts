/**
 * Specifies the transfer encodings the transform re-encodes with (they were rewritten to work on
 * bytes for speed): quoted-printable and base64 round-trip any bytes exactly, encoded lines stay
 * within 76 characters, CRLF stays a hard line break, trailing whitespace is protected, and the
 * decoder reads what real senders write (soft breaks with bare LF or padding, lowercase hex, a
 * lone "=").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeBody, encodeBody } from '../../src/tracking/encoding.js';

function randomBytes(seed: number, length: number, ascii: boolean): Buffer {
  let x = seed >>> 0 || 1;
  const special = [0x3d, 0x20, 0x09, 0x0d, 0x0a, 0x0d, 0x0a, 0x80, 0xff];
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    const r = x >>> 8;
    out[i] = ascii && r % 30 !== 0 ? 0x20 + (r % 95) : r % 3 === 0 ? r % 256 : special[r % special.length]!;
  }
  return out;
}

describe('quoted-printable and base64', () => {
  test('any bytes round-trip, and no encoded line is longer than 76 characters', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const bytes = randomBytes(seed, seed % 700, seed % 2 === 0);
      for (const cte of ['quoted-printable', 'base64'] as const) {
        const encoded = encodeBody(bytes, cte);
        assert.ok(decodeBody(encoded, cte).equals(bytes), `${cte} seed ${seed}`);
        for (const line of encoded.toString('latin1').split('\r\n'))
          assert.ok(line.length <= 76, `${cte} seed ${seed}: a line of ${line.length}`);
      }
    }
  });

  test('QP keeps CRLF as hard breaks and protects whitespace before them', () => {
    const encoded = encodeBody(Buffer.from('a b \r\nc\t\r\n=x'), 'quoted-printable').toString();
    assert.equal(encoded, 'a b=20\r\nc=09\r\n=3Dx');
  });

  test('QP decoding reads soft breaks with bare LF or trailing padding, lowercase hex, a lone =', () => {
    const decoded = decodeBody(Buffer.from('ab=\ncd= \t\r\nef=3d=c3=A9 \r\nx = y=\r\n'), 'quoted-printable');
    assert.equal(decoded.toString('utf8'), 'abcdef=é\r\nx = y');
  });
});
