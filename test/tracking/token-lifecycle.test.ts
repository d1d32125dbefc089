/**
 * Specifies the life of tracking tokens beyond token.test.ts, through the real tracking server
 * where it matters (fastify on loopback, embedded store):
 *  - rotation in three steps — old key only, new key first with the old one kept, old key retired:
 *    old links keep redirecting until their key is removed, then answer 404;
 *  - expiry with an injected clock: 302 until link_ttl has passed, 404 from then on, whatever key;
 *  - a link_ttl beyond 2106 (the 32-bit expiry) still verifies;
 *  - a URL too long for a token the server accepts is left as written by the transform (with a
 *    reason) rather than turned into a link that can only 404;
 *  - signer construction refuses no keys and over-long key ids.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { type HttpServer, startHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { openStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';
import { trackMessage } from '../../src/tracking/mime.js';
import { MAX_TOKEN_LENGTH, type TokenPayload, TokenSigner } from '../../src/tracking/token.js';

const OLD = { id: 'old', secret: 'old-secret-0123456789' };
const NEW = { id: 'new', secret: 'new-secret-0123456789' };
const DAY = 86_400_000;
const T0 = 1_800_000_000_000;
const LINK: Omit<TokenPayload, 'expires'> = {
  kind: 'click',
  messageId: '0190a1b2c3d4e5f60718',
  rcpt: 'alice@one.example',
  linkIndex: 0,
  linkName: '',
  url: 'https://shop.example/rotate',
};

let dataDir: string;
let stores: Stores;
const servers: HttpServer[] = [];
let now = T0;
const clock = () => now;

before(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-tokens-'));
  stores = await openStores(configSchema.parse({ data_dir: dataDir }));
});

after(async () => {
  for (const s of servers) await s.close();
  await stores?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A tracking server verifying with `keys`, as after a restart with that config. */
async function serverWith(keys: { id: string; secret: string }[], ttl = 30 * DAY) {
  const signer = new TokenSigner(keys, ttl, clock);
  const deps = { signer, events: stores.events, log: createLogger('silent') };
  const server = await startHttpServer({ listen: '127.0.0.1:0', trustedProxies: [] }, deps);
  servers.push(server);
  return { signer, status: (token: string) => status(server, token) };
}

async function status(server: HttpServer, token: string): Promise<number> {
  const response = await fetch(`http://${server.address}/f/${token}`, { redirect: 'manual' });
  await response.arrayBuffer();
  if (response.status === 302) assert.equal(response.headers.get('location'), LINK.url);
  return response.status;
}

describe('token lifecycle through the tracking server', () => {
  test('rotation: old links work while their key is listed, and 404 once it is retired', async () => {
    const step1 = await serverWith([OLD]);
    const oldLink = step1.signer.sign(LINK);
    assert.equal(await step1.status(oldLink), 302);

    const step2 = await serverWith([NEW, OLD]);
    const newLink = step2.signer.sign(LINK);
    assert.equal(await step2.status(oldLink), 302, 'old link after rotation');
    assert.equal(await step2.status(newLink), 302, 'new link after rotation');
    assert.equal(await step1.status(newLink), 404, 'a server without the new key refuses new links');

    const step3 = await serverWith([NEW]);
    assert.equal(await step3.status(oldLink), 404, 'old link after its key is retired');
    assert.equal(await step3.status(newLink), 302);
  });

  test('expiry: 302 until link_ttl has passed, then 404, for old and new keys alike', async () => {
    now = T0;
    const signOld = new TokenSigner([OLD], 10 * DAY, clock);
    const server = await serverWith([NEW, OLD], 10 * DAY);
    const links = [signOld.sign(LINK), server.signer.sign(LINK)];
    now = T0 + 10 * DAY - 1000;
    for (const link of links) assert.equal(await server.status(link), 302);
    now = T0 + 10 * DAY;
    for (const link of links) assert.equal(await server.status(link), 404);
    now = T0;
  });

  test('a link_ttl past 2106 is capped at the 32-bit expiry and still verifies', () => {
    const signer = new TokenSigner([OLD], 100 * 365 * DAY, clock);
    const payload = signer.verify(signer.sign(LINK));
    assert.equal(payload?.expires, 0xffffffff);
  });
});

describe('token size', () => {
  const signer = new TokenSigner([OLD], DAY, clock);
  const urlOf = (n: number) => `https://long.example/?q=${'a'.repeat(n)}`;

  test('the longest token the server accepts still round-trips; one byte of URL more does not', () => {
    let n = 1;
    while (signer.sign({ ...LINK, url: urlOf(n + 1) }).length <= MAX_TOKEN_LENGTH) n++;
    assert.equal(signer.verify(signer.sign({ ...LINK, url: urlOf(n) }))?.url, urlOf(n));
    assert.equal(signer.verify(signer.sign({ ...LINK, url: urlOf(n + 1) })), null);
  });

  test('the transform leaves a link too long for a token as written, and says so', async () => {
    const long = urlOf(7000);
    const message = Buffer.from(
      'Content-Type: text/html\r\n\r\n' +
        `<html><body>\r\n<a href="${long}">long</a>\r\n<a href="https://short.example/">short</a></body></html>\r\n`,
    );
    const result = await trackMessage(message, {
      open: false,
      click: true,
      baseUrl: 'https://t.example',
      signer,
      messageId: LINK.messageId,
      rcpt: LINK.rcpt,
      maxPartSize: 1_048_576,
    });
    assert.equal(result.links, 1);
    assert.deepEqual(result.reasons, ['a link too long for a tracking token is left as written']);
    assert.equal(result.tracked, true);
    const text = result.message.toString();
    assert.ok(text.includes(`<a href="${long}">`), 'the long link is untouched');
    const [, token] = text.match(/https:\/\/t\.example\/f\/([A-Za-z0-9_-]+)/)!;
    assert.deepEqual(
      { url: signer.verify(token!)?.url, index: signer.verify(token!)?.linkIndex },
      { url: 'https://short.example/', index: 0 },
    );
  });

  test('a part declined after rewriting (a line past 998 bytes) counts no links', async () => {
    const line = `<a href="https://x.example/">x</a>${'y'.repeat(990)}`;
    const result = await trackMessage(Buffer.from(`Content-Type: text/html\r\n\r\n${line}\r\n`), {
      open: false,
      click: true,
      baseUrl: 'https://t.example',
      signer,
      messageId: LINK.messageId,
      rcpt: LINK.rcpt,
      maxPartSize: 1_048_576,
    });
    assert.deepEqual(
      { tracked: result.tracked, links: result.links, reasons: result.reasons },
      { tracked: false, links: 0, reasons: ['a rewritten 7bit line would exceed 998 bytes; left untouched'] },
    );
  });

  test('a signer needs a key, and key ids fit in a byte-length field', () => {
    assert.throws(() => new TokenSigner([], DAY), /at least one signing key/);
    assert.throws(() => new TokenSigner([{ id: 'x'.repeat(256), secret: 's'.repeat(20) }], DAY), /255 bytes/);
  });
});
