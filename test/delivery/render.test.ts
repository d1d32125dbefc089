/**
 * Specifies the delivery-time renderer: a message whose settled options ask for tracking is
 * rewritten for its one recipient, identically whether the spooled bytes come as a buffer (just
 * received) or as a file stream (a retry, a large message) read in small chunks; a transaction of
 * several recipients and an untracked message pass through as the very same object; and a signed
 * message goes out untouched with the reason handed to the caller (it ends up in the delivery event).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { MessageFacts } from '../../src/core/events.js';
import { MessageRenderer } from '../../src/delivery/render.js';
import { createLogger } from '../../src/log.js';
import type { TrackingResult } from '../../src/tracking/mime.js';
import { TokenSigner } from '../../src/tracking/token.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../../test/fixtures/tracking');
const signer = new TokenSigner(
  [{ id: 'k1', secret: 'render-secret-0123456789' }],
  86_400_000,
  () => 1_700_000_000_000,
);
const renderer = new MessageRenderer(
  { baseUrl: 'https://t.example', signer, maxPartSize: 1_048_576 },
  createLogger('silent'),
);

function facts(options: { open_tracking?: boolean; click_tracking?: boolean }): MessageFacts {
  return {
    message_id: '0190a1b2c3d4e5f60718',
    transmission_id: '1',
    msg_from: 'news@example.com',
    friendly_from: 'news@example.com',
    subject: 's',
    msg_size: 0,
    injection_time: new Date(0).toISOString(),
    recv_method: 'esmtp',
    api_key_id: null,
    client_ip: '127.0.0.1',
    msys: { options },
  };
}

async function collect(out: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(out)) return out;
  const chunks: Buffer[] = [];
  for await (const chunk of out) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function chunked(data: Buffer, size: number): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) pieces.push(data.subarray(at, at + size));
  return Readable.from(pieces);
}

test('a buffer and a stream of the same bytes render the same tracked message', async () => {
  const on = facts({ open_tracking: true, click_tracking: true });
  for (const name of ['01-simple-html.eml', '03-mixed-alternative-attachment.eml']) {
    const source = readFileSync(path.join(FIXTURES, name));
    const fromBuffer = await collect(renderer.render(on, ['alice@one.example'], source));
    const fromStream = await collect(renderer.render(on, ['alice@one.example'], chunked(source, 7)));
    assert.notDeepEqual(fromBuffer, source, `${name} is rewritten`);
    assert.deepEqual(fromStream, fromBuffer, name);
  }
  const simple = await collect(
    renderer.render(on, ['alice@one.example'], readFileSync(path.join(FIXTURES, '01-simple-html.eml'))),
  );
  assert.ok(simple.includes('https://t.example/f/'), 'links tracked');
  assert.ok(simple.includes('https://t.example/q/'), 'pixel added');
});

test('untracked messages and multi-recipient transactions pass through untouched', () => {
  const source = readFileSync(path.join(FIXTURES, '01-simple-html.eml'));
  assert.equal(renderer.render(facts({}), ['a@x.example'], source), source);
  assert.equal(
    renderer.render(facts({ open_tracking: false, click_tracking: false }), ['a@x.example'], source),
    source,
  );
  const both = facts({ open_tracking: true, click_tracking: true });
  assert.equal(renderer.render(both, ['a@x.example', 'b@x.example'], source), source);
});

test('a DKIM-signed message goes out untouched and the caller learns why', async () => {
  const plain = readFileSync(path.join(FIXTURES, '01-simple-html.eml'));
  const signed = Buffer.concat([
    Buffer.from('DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; b=abc\r\n'),
    plain,
  ]);
  let result: TrackingResult | undefined;
  const out = await collect(
    renderer.render(
      facts({ open_tracking: true, click_tracking: true }),
      ['a@x.example'],
      chunked(signed, 64),
      (r) => {
        result = r;
      },
    ),
  );
  assert.deepEqual(out, signed);
  assert.equal(result?.tracked, false);
  assert.match(result?.reasons.join(';') ?? '', /DKIM|signed/i);
});
