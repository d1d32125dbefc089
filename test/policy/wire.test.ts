/**
 * Specifies the policy wire codec without sockets: requests framed from any chunking, malformed
 * requests reported without losing the framing, oversized input ending the stream once, binary
 * input never throwing, and action replies that cannot break the framing. A seeded fuzz loop
 * checks that split points never change what is decoded.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Decoded, encodeAction, PolicyDecoder } from '../../src/policy/wire.js';

/** The attributes Postfix 3.x sends at RCPT (SMTPD_POLICY_README), authenticated. */
const POSTFIX_RCPT = [
  'request=smtpd_access_policy',
  'protocol_state=RCPT',
  'protocol_name=ESMTP',
  'client_address=192.0.2.10',
  'client_name=app.example.com',
  'client_port=40412',
  'reverse_client_name=app.example.com',
  'server_address=192.0.2.1',
  'server_port=587',
  'helo_name=app.example.com',
  'sender=news@example.com',
  'recipient=user@example.net',
  'recipient_count=0',
  'queue_id=',
  'instance=2c5d.67a1b2c3.8f1e.0',
  'size=12345',
  'etrn_domain=',
  'stress=',
  'sasl_method=PLAIN',
  'sasl_username=0123456789abcdef',
  'sasl_sender=',
  'ccert_subject=',
  'ccert_issuer=',
  'ccert_fingerprint=',
  'ccert_pubkey_fingerprint=',
  'encryption_protocol=TLSv1.3',
  'encryption_cipher=TLS_AES_256_GCM_SHA384',
  'encryption_keysize=256',
  'policy_context=',
  'compatibility_level=3.6',
  'mail_version=3.7.11',
].join('\n');

const request = (body: string) => Buffer.from(`${body}\n\n`);

/** How much had arrived when the limit was hit depends on the chunking; the outcome does not. */
const sizeless = (items: Decoded[]) => items.map((d) => (d.type === 'oversize' ? { type: d.type } : d));

function decodeAll(decoder: PolicyDecoder, chunks: Buffer[]): Decoded[] {
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

describe('PolicyDecoder', () => {
  test('decodes the full Postfix attribute set, empty values included', () => {
    const [item, ...rest] = new PolicyDecoder().push(request(POSTFIX_RCPT));
    assert.equal(rest.length, 0);
    assert.equal(item?.type, 'request');
    if (item?.type !== 'request') return;
    assert.equal(item.attributes.get('sasl_username'), '0123456789abcdef');
    assert.equal(item.attributes.get('queue_id'), '');
    assert.equal(item.attributes.get('instance'), '2c5d.67a1b2c3.8f1e.0');
    assert.equal(item.attributes.size, 31);
  });

  test('frames byte by byte, and several requests in one chunk, in order', () => {
    const bytes = Buffer.concat([request('request=a\nn=1'), request('request=b\nn=2'), request('request=c')]);
    const single = decodeAll(
      new PolicyDecoder(),
      [...bytes].map((b) => Buffer.from([b])),
    );
    const whole = new PolicyDecoder().push(bytes);
    assert.deepEqual(single, whole);
    assert.deepEqual(
      whole.map((d) => (d.type === 'request' ? d.attributes.get('request') : d.type)),
      ['a', 'b', 'c'],
    );
  });

  test('keeps "=" inside values, accepts CRLF, takes UTF-8 split across chunks', () => {
    const bytes = Buffer.from('request=x\r\nsender=j\u00f6rg+a=b@b\u00fccher.example\r\n\r\n');
    const at = bytes.indexOf(0xc3) + 1; // inside the two bytes of "ö"
    const [item] = decodeAll(new PolicyDecoder(), [bytes.subarray(0, at), bytes.subarray(at)]);
    assert.equal(item?.type, 'request');
    if (item?.type === 'request')
      assert.equal(item.attributes.get('sender'), 'j\u00f6rg+a=b@b\u00fccher.example');
  });

  test('reports malformed requests and keeps framing the ones after them', () => {
    const items = new PolicyDecoder().push(
      Buffer.concat([
        request('no equals sign'),
        request('=value'),
        request('Bad-Name=1'),
        request('request=x\nnul=\0'),
        request('request=ok'),
      ]),
    );
    assert.deepEqual(
      items.map((d) => d.type),
      ['malformed', 'malformed', 'malformed', 'malformed', 'request'],
    );
    assert.match((items[0] as { reason: string }).reason, /no "="/);
  });

  test('a truncated request stays pending and is reported as such', () => {
    const decoder = new PolicyDecoder();
    assert.deepEqual(decoder.push(Buffer.from('request=smtpd_access_policy\nprotocol_state=RC')), []);
    assert.ok(decoder.pendingBytes() > 0);
    assert.deepEqual(decoder.push(Buffer.from('PT\n')), []);
    const [item] = decoder.push(Buffer.from('\n'));
    assert.equal(item?.type, 'request');
    assert.equal(decoder.pendingBytes(), 0);
  });

  test('blank lines between requests are not requests', () => {
    const items = new PolicyDecoder().push(Buffer.from('\n\nrequest=a\n\n\n\nrequest=b\n\n'));
    assert.deepEqual(
      items.map((d) => d.type),
      ['request', 'request'],
    );
  });

  test('oversized input, with or without line breaks, yields one oversize item, then nothing', () => {
    for (const filler of ['x'.repeat(2000), 'a=b\n'.repeat(500)]) {
      const decoder = new PolicyDecoder(1024);
      const items = decodeAll(decoder, [
        Buffer.from('request=ok\n\n'),
        Buffer.from(filler),
        Buffer.from('\n\n'),
      ]);
      assert.deepEqual(
        items.map((d) => d.type),
        ['request', 'oversize'],
      );
      assert.deepEqual(decoder.push(Buffer.from('request=late\n\n')), []);
    }
  });

  test('a request of exactly the limit passes', () => {
    const body = `request=${'v'.repeat(1024 - 'request=\n'.length)}`;
    const [item] = new PolicyDecoder(1024).push(request(body));
    assert.equal(item?.type, 'request');
  });

  test('seeded fuzz: random bytes never throw, and chunking never changes the result', () => {
    let seed = 0x5eed;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const alphabet = Buffer.from('request=smtpd_access_policy\n\n=\r\0\xff abc_Z9');
    for (let round = 0; round < 300; round++) {
      const length = Math.floor(random() * 3000);
      const bytes = Buffer.alloc(length);
      for (let i = 0; i < length; i++)
        bytes[i] =
          random() < 0.8 ? alphabet[Math.floor(random() * alphabet.length)]! : Math.floor(random() * 256);
      const whole = sizeless(new PolicyDecoder(2048).push(bytes));
      const chunks: Buffer[] = [];
      for (let at = 0; at < length; ) {
        const size = 1 + Math.floor(random() * 64);
        chunks.push(bytes.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual(sizeless(decodeAll(new PolicyDecoder(2048), chunks)), whole, `round ${round}`);
    }
  });
});

describe('encodeAction', () => {
  test('writes action= and an empty line', () => {
    assert.equal(encodeAction('DUNNO').toString(), 'action=DUNNO\n\n');
    assert.equal(encodeAction('451 4.7.1 Slow down').toString(), 'action=451 4.7.1 Slow down\n\n');
  });

  test('refuses line breaks that would end the reply early', () => {
    assert.throws(() => encodeAction('REJECT a\n\naction=OK'), /line break/);
  });
});
