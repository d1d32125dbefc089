/**
 * The JavaScript HMAC-SHA256 the token signer uses must be the standard one: checked against
 * node:crypto on random keys (empty, short, one block, longer than a block) and inputs around
 * every padding edge (55/56/64 bytes and multi-block), plus RFC 4231's test case 2.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { HmacSha256 } from '../../src/tracking/hmac-sha256.js';

function mac(key: Buffer, data: Buffer, length = 32): Buffer {
  const out = Buffer.alloc(length);
  new HmacSha256(key).mac(data, out, 0, length);
  return out;
}

test('RFC 4231 test case 2 ("Jefe")', () => {
  assert.equal(
    mac(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
});

test('matches node:crypto for keys and inputs of every length up to past two blocks', () => {
  for (const keyLength of [0, 1, 16, 32, 63, 64, 65, 100, 131]) {
    const key = randomBytes(keyLength);
    const hmac = new HmacSha256(key);
    for (let length = 0; length <= 200; length++) {
      const data = randomBytes(length);
      const out = Buffer.alloc(32);
      hmac.mac(data, out, 0, 32);
      assert.deepEqual(
        out,
        createHmac('sha256', key).update(data).digest(),
        `key ${keyLength}, data ${length}`,
      );
    }
  }
});

test('one instance gives the same answer on every call, at any output offset and length', () => {
  const key = randomBytes(24);
  const hmac = new HmacSha256(key);
  for (let i = 0; i < 500; i++) {
    const data = randomBytes(Math.floor(Math.random() * 400));
    const length = 1 + (i % 32);
    const out = Buffer.alloc(length + 7, 0xaa);
    hmac.mac(data, out, 7, length);
    const expected = createHmac('sha256', key).update(data).digest().subarray(0, length);
    assert.deepEqual(out.subarray(7), expected);
    assert.deepEqual(out.subarray(0, 7), Buffer.alloc(7, 0xaa), 'bytes before outAt untouched');
  }
});
