/**
 * Specifies tracking tokens: a signed token round-trips; changing any byte, signing with an
 * unknown key, or letting it expire makes verify() answer null; after a key rotation old tokens
 * still verify while new ones are signed with the new key. The MAC is the documented one (version
 * 2: HMAC under a per-message key derived from the prefix), checked with node:crypto, and
 * version-1 tokens (one HMAC over the whole body), already in delivered mail, still verify.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { type TokenPayload, TokenSigner } from '../../src/tracking/token.js';

const K1 = { id: 'k1', secret: 'first-secret-0123456789' };
const K2 = { id: 'k2', secret: 'second-secret-0123456789' };
const DAY = 86_400_000;
const LINK: Omit<TokenPayload, 'expires'> = {
  kind: 'click',
  messageId: '0190a1b2c3d4e5f60718',
  rcpt: 'Alice@Example.com',
  linkIndex: 3,
  linkName: 'Früh-Angebot',
  url: 'https://shop.example/p?id=42&utm=x#top',
};

describe('tracking tokens', () => {
  test('round trip: every field comes back; the token is base64url', () => {
    const signer = new TokenSigner([K1], 365 * DAY, () => 1_700_000_000_000);
    const token = signer.sign(LINK);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    const payload = signer.verify(token);
    assert.deepEqual(payload, { ...LINK, expires: 1_700_000_000 + 365 * 86_400 });
  });

  test('pixel tokens are short', () => {
    const signer = new TokenSigner([K1], 365 * DAY);
    const token = signer.sign({ ...LINK, kind: 'open', linkIndex: 0, linkName: '', url: '' });
    assert.ok(token.length < 80, `${token.length} characters`);
    assert.equal(signer.verify(token)?.kind, 'open');
  });

  test('changing any character of the token makes it invalid', () => {
    const signer = new TokenSigner([K1], DAY);
    const token = signer.sign(LINK);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < token.length; i++) {
      const replacement = alphabet[(alphabet.indexOf(token[i]!) + 1) % 64]!;
      const tampered = token.slice(0, i) + replacement + token.slice(i + 1);
      assert.equal(signer.verify(tampered), null, `position ${i}`);
    }
  });

  test('changing any byte of the decoded token makes it invalid', () => {
    const signer = new TokenSigner([K1], DAY);
    const raw = Buffer.from(signer.sign(LINK), 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const copy = Buffer.from(raw);
      copy[i]! ^= 0x01;
      assert.equal(signer.verify(copy.toString('base64url')), null, `byte ${i}`);
    }
  });

  test('truncated, extended, empty and garbage tokens are invalid', () => {
    const signer = new TokenSigner([K1], DAY);
    const token = signer.sign(LINK);
    for (const bad of [
      token.slice(0, -1),
      `${token}A`,
      '',
      'x',
      'not a token at all!',
      'A'.repeat(200),
      `${token}=`,
    ])
      assert.equal(signer.verify(bad), null, bad);
  });

  test('a token signed with a key the verifier does not have is invalid', () => {
    const token = new TokenSigner([K2], DAY).sign(LINK);
    assert.equal(new TokenSigner([K1], DAY).verify(token), null);
    // Same id, different secret: the MAC does not match.
    const sameId = new TokenSigner([{ id: 'k1', secret: 'another-secret-0123456789' }], DAY).sign(LINK);
    assert.equal(new TokenSigner([K1], DAY).verify(sameId), null);
  });

  test('rotation: the first key signs, every listed key verifies', () => {
    const before = new TokenSigner([K1], DAY).sign(LINK);
    const rotated = new TokenSigner([K2, K1], DAY);
    assert.equal(rotated.verify(before)?.url, LINK.url);
    const after = rotated.sign(LINK);
    assert.equal(new TokenSigner([K1], DAY).verify(after), null, 'new tokens use the new key');
    assert.equal(new TokenSigner([K2], DAY).verify(after)?.url, LINK.url);
  });

  test('expiry: valid until link_ttl has passed, invalid from then on', () => {
    let now = 1_700_000_000_000;
    const signer = new TokenSigner([K1], 10 * DAY, () => now);
    const token = signer.sign(LINK);
    now += 10 * DAY - 1000;
    assert.ok(signer.verify(token));
    now += 1000;
    assert.equal(signer.verify(token), null);
  });

  test('message ids that are not hex round-trip too', () => {
    const signer = new TokenSigner([K1], DAY);
    const payload = signer.verify(signer.sign({ ...LINK, messageId: 'ABC-12.x' }));
    assert.equal(payload?.messageId, 'ABC-12.x');
  });

  test('version 2 MAC: HMAC(HMAC(secret, prefix), link fields), as node:crypto computes it', () => {
    const signer = new TokenSigner([K1], 365 * DAY, () => 1_700_000_000_000);
    const raw = Buffer.from(signer.sign(LINK), 'base64url');
    assert.equal(raw[0], 2);
    const body = raw.subarray(0, raw.length - 16);
    // The prefix ends after the recipient: find it by its encoding (length byte, then the bytes).
    const rcpt = Buffer.from(LINK.rcpt);
    const at = body.indexOf(Buffer.concat([Buffer.from([rcpt.length]), rcpt]));
    const prefixLength = at + 1 + rcpt.length;
    const messageKey = createHmac('sha256', K1.secret).update(body.subarray(0, prefixLength)).digest();
    const mac = createHmac('sha256', messageKey).update(body.subarray(prefixLength)).digest().subarray(0, 16);
    assert.deepEqual(raw.subarray(raw.length - 16), mac);
  });

  test('version 1 tokens (one HMAC over the whole body) still verify; altered, they do not', () => {
    const signer = new TokenSigner([K1], 365 * DAY, () => 1_700_000_000_000);
    const v2 = Buffer.from(signer.sign(LINK), 'base64url');
    const body = Buffer.from(v2.subarray(0, v2.length - 16));
    body[0] = 1;
    const mac = createHmac('sha256', K1.secret).update(body).digest().subarray(0, 16);
    const v1 = Buffer.concat([body, mac]).toString('base64url');
    assert.deepEqual(signer.verify(v1), { ...LINK, expires: 1_700_000_000 + 365 * 86_400 });
    // A v1 body under the v2 MAC, or a v2 body under the v1 MAC, is a forgery.
    const mixed = Buffer.concat([body, v2.subarray(v2.length - 16)]).toString('base64url');
    assert.equal(signer.verify(mixed), null);
    const other = Buffer.from(v2);
    other.set(mac, other.length - 16);
    assert.equal(signer.verify(other.toString('base64url')), null);
    const unknown = Buffer.concat([body, mac]);
    unknown[0] = 3;
    assert.equal(signer.verify(unknown.toString('base64url')), null);
  });
});
