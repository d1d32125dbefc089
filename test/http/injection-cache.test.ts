/**
 * Specifies InjectionCache on the real embedded event store: a lookup answers exactly what the
 * store's own search answers (the newest injection of that message and recipient, recipient
 * matched case-insensitively), a miss is not remembered (an injection written later is found),
 * the cache never holds more than its capacity, and cached events cannot be changed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { injectionEvent, type MessageFacts } from '../../src/core/events.js';
import { InjectionCache } from '../../src/http/injection-cache.js';
import { openStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';

let dataDir: string;
let stores: Stores;

const facts = (id: string, campaign: string): MessageFacts => ({
  message_id: id,
  transmission_id: '77',
  msg_from: 'news@shop.example',
  friendly_from: 'news@shop.example',
  subject: `Issue ${id}`,
  msg_size: 1000,
  injection_time: new Date().toISOString(),
  recv_method: 'esmtp',
  api_key_id: 'k1',
  client_ip: '127.0.0.1',
  msys: { campaign_id: campaign, tags: ['t'], metadata: { user: { id: 42 } } },
});

before(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-injection-cache-'));
  stores = await openStores(configSchema.parse({ data_dir: dataDir }));
  for (let i = 0; i < 20; i++)
    stores.events.append(
      injectionEvent(facts(`0a${i.toString(16).padStart(2, '0')}`, `c${i}`), 'Bob@Two.example'),
    );
});

after(async () => {
  await stores?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('a lookup, cached or not, answers what the store search answers', async () => {
  const cache = new InjectionCache(stores.events, 100);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 20; i++) {
      const id = `0a${i.toString(16).padStart(2, '0')}`;
      const [fromStore] = await stores.events.search({
        types: ['injection'],
        messageId: id,
        recipient: 'bob@two.example',
        limit: 1,
      });
      const cached = await cache.lookup(id, 'BOB@two.example');
      assert.deepEqual(cached, fromStore);
      assert.equal(cached?.campaign_id, `c${i}`);
      // The second round is answered from memory.
      if (round === 1) assert.equal(cache.peek(id, 'bob@two.example'), cached);
    }
  }
  assert.equal(cache.size, 20);
});

test('a miss is asked again: an injection recorded later is found', async () => {
  const cache = new InjectionCache(stores.events, 100);
  assert.equal(await cache.lookup('0bff', 'late@two.example'), null);
  assert.equal(cache.peek('0bff', 'late@two.example'), undefined);
  stores.events.append(injectionEvent(facts('0bff', 'late'), 'late@two.example'));
  assert.equal((await cache.lookup('0bff', 'late@two.example'))?.campaign_id, 'late');
});

test('the least recently used entry goes at capacity', async () => {
  const cache = new InjectionCache(stores.events, 5);
  for (let i = 0; i < 5; i++) await cache.lookup(`0a0${i}`, 'bob@two.example');
  assert.ok(cache.peek('0a00', 'bob@two.example')); // now the most recent
  await cache.lookup('0a05', 'bob@two.example');
  assert.equal(cache.size, 5);
  assert.equal(cache.peek('0a01', 'bob@two.example'), undefined);
  assert.ok(cache.peek('0a00', 'bob@two.example'));
  assert.ok(cache.peek('0a05', 'bob@two.example'));
});

test('cached events are frozen through and through', async () => {
  const cache = new InjectionCache(stores.events, 5);
  const event = (await cache.lookup('0a10', 'bob@two.example'))!;
  assert.throws(() => {
    (event as Record<string, unknown>).campaign_id = 'changed';
  }, TypeError);
  assert.throws(() => {
    (event.rcpt_meta as { user: { id: number } }).user.id = 1;
  }, TypeError);
});
