/**
 * Specifies the tracking server over real HTTP (fastify on a loopback port, the embedded event
 * store in a temporary data dir): a pixel answers a no-cache GIF and records open/initial_open,
 * a link answers 302 to its original URL and records click with the message's campaign, tags and
 * metadata (from the injection event), the user agent and the client address — X-Forwarded-For
 * only from a trusted proxy; tampered, expired and wrong-kind tokens answer 404, never a redirect.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Config, configSchema } from '../../src/config/schema.js';
import { injectionEvent, type MessageFacts } from '../../src/core/events.js';
import { type HttpServer, startHttpServer } from '../../src/http/server.js';
import { PIXEL_GIF } from '../../src/http/tracking-routes.js';
import { createLogger } from '../../src/log.js';
import { openStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';
import { TokenSigner } from '../../src/tracking/token.js';

const MESSAGE = '0190a1b2c3d4e5f60718';
const RCPT = 'alice@one.example';
let now = Date.now();
const signer = new TokenSigner([{ id: 't1', secret: 'test-secret-0123456789' }], 3_600_000, () => now);
let dataDir: string;
let stores: Stores;
let direct: HttpServer;
let proxied: HttpServer;

const facts: MessageFacts = {
  message_id: MESSAGE,
  transmission_id: '1234',
  msg_from: 'news@shop.example',
  friendly_from: 'news@shop.example',
  subject: 'Spring sale',
  msg_size: 1000,
  injection_time: new Date().toISOString(),
  recv_method: 'esmtp',
  api_key_id: 'k1',
  client_ip: '127.0.0.1',
  msys: { campaign_id: 'spring', tags: ['sale'], metadata: { user: 42 }, options: { transactional: true } },
};

before(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-http-'));
  const config: Config = configSchema.parse({ data_dir: dataDir });
  stores = await openStores(config);
  stores.events.append(injectionEvent(facts, RCPT));
  const log = createLogger('silent');
  const deps = { signer, events: stores.events, log };
  direct = await startHttpServer({ listen: '127.0.0.1:0', trustedProxies: [] }, deps);
  proxied = await startHttpServer({ listen: '127.0.0.1:0', trustedProxies: ['127.0.0.0/8'] }, deps);
});

after(async () => {
  await direct?.close();
  await proxied?.close();
  await stores?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const click = (url = 'https://shop.example/sale?x=1&y=2', linkName = 'hero') =>
  signer.sign({ kind: 'click', messageId: MESSAGE, rcpt: RCPT, linkIndex: 0, linkName, url });
const pixel = (kind: 'open' | 'initial_open') =>
  signer.sign({ kind, messageId: MESSAGE, rcpt: RCPT, linkIndex: 0, linkName: '', url: '' });

async function latest(type: string) {
  const [event] = await stores.events.search({ types: [type], messageId: MESSAGE, limit: 1 });
  return event;
}

describe('tracking server', () => {
  test('GET /q/ with an open pixel: 1x1 GIF, no-cache, an open event with the message fields', async () => {
    const response = await fetch(`http://${direct.address}/q/${pixel('open')}`, {
      headers: { 'user-agent': 'TestMail/1.0' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/gif');
    assert.match(response.headers.get('cache-control') ?? '', /no-store/);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(PIXEL_GIF));
    const event = await latest('open');
    assert.ok(event);
    assert.equal(event.rcpt_to, RCPT);
    assert.equal(event.campaign_id, 'spring');
    assert.deepEqual(event.rcpt_tags, ['sale']);
    assert.deepEqual(event.rcpt_meta, { user: 42 });
    assert.equal(event.subject, 'Spring sale');
    assert.equal(event.friendly_from, 'news@shop.example');
    assert.equal(event.transactional, '1');
    assert.equal(event.user_agent, 'TestMail/1.0');
    assert.equal(event.ip_address, '127.0.0.1');
    assert.equal(event.initial_pixel, false);
  });

  test('the initial-open pixel records initial_open', async () => {
    const response = await fetch(`http://${direct.address}/q/${pixel('initial_open')}`);
    assert.equal(response.status, 200);
    await response.arrayBuffer();
    assert.equal((await latest('initial_open'))?.initial_pixel, true);
  });

  test('GET /f/: 302 to the original URL and a click event with the link', async () => {
    const response = await fetch(`http://${direct.address}/f/${click()}`, {
      redirect: 'manual',
      headers: { 'user-agent': 'Browser/2.0', 'x-forwarded-for': '203.0.113.9' },
    });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), 'https://shop.example/sale?x=1&y=2');
    const event = await latest('click');
    assert.equal(event?.target_link_url, 'https://shop.example/sale?x=1&y=2');
    assert.equal(event?.target_link_name, 'hero');
    assert.equal(event?.user_agent, 'Browser/2.0');
    assert.equal(event?.ip_address, '127.0.0.1', 'X-Forwarded-For from an untrusted peer is ignored');
    assert.equal(event?.campaign_id, 'spring');
  });

  test('X-Forwarded-For is honoured from a trusted proxy', async () => {
    const response = await fetch(`http://${proxied.address}/f/${click('https://shop.example/xff')}`, {
      redirect: 'manual',
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    assert.equal(response.status, 302);
    assert.equal((await latest('click'))?.ip_address, '203.0.113.9');
  });

  test('tampered, expired, garbage and wrong-kind tokens: 404 and no redirect, no event', async () => {
    const before = (await stores.events.search({ messageId: MESSAGE })).length;
    const token = click();
    const tampered = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
    const bad = [
      `/f/${tampered}`,
      '/f/garbage',
      `/f/${'A'.repeat(5000)}`,
      `/q/${token}`,
      `/f/${pixel('open')}`,
    ];
    const expect404 = async (url: string) => {
      const response = await fetch(`http://${direct.address}${url}`, { redirect: 'manual' });
      assert.equal(response.status, 404, url.slice(0, 40));
      assert.equal(response.headers.get('location'), null);
      assert.equal(await response.text(), 'Not found\n');
    };
    for (const url of bad) await expect404(url);
    now += 2 * 3_600_000; // past link_ttl
    try {
      await expect404(`/f/${token}`);
    } finally {
      now -= 2 * 3_600_000;
    }
    assert.equal((await stores.events.search({ messageId: MESSAGE })).length, before);
  });
});
