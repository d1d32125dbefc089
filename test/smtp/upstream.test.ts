/**
 * Specifies how the SMTP door reads back what an upstream Sluice milter recorded for a message
 * (its injection event, in the real embedded store): campaign, tags, metadata, transactional,
 * ip_pool and key come back as X-MSYS-API values; no event gives null; a failing store gives null
 * too (logged), so the message is never refused for it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { injectionEvent, type MessageFacts } from '../../src/core/events.js';
import { upstreamInjection } from '../../src/smtp/upstream.js';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedEventStore } from '../../src/store/embedded/events.js';
import { scratchEventStore } from '../harness/scratch-events.js';

const log = pino({ level: 'silent' });

const scratch = scratchEventStore('sluice-upstream-');

const facts = (id: string, msys: MessageFacts['msys'], key: string | null): MessageFacts => ({
  message_id: id,
  transmission_id: '1',
  msg_from: 'app@one.example',
  friendly_from: '',
  subject: 's',
  msg_size: 10,
  injection_time: new Date().toISOString(),
  recv_method: 'esmtp',
  api_key_id: key,
  client_ip: '127.0.0.1',
  msys,
});

test('the injection event gives back the X-MSYS-API values events carry, and the key', async () => {
  const msys = {
    campaign_id: 'spring',
    tags: ['a', 'b'],
    metadata: { order: 7 },
    options: { transactional: true, ip_pool: 'bulk', click_tracking: true },
  };
  scratch.store.append(injectionEvent(facts('0000000000dd00000001', msys, 'key9'), 'x@two.example'));
  assert.deepEqual(await upstreamInjection(scratch.store, '0000000000dd00000001', log), {
    msys: {
      campaign_id: 'spring',
      tags: ['a', 'b'],
      metadata: { order: 7 },
      options: { transactional: true, ip_pool: 'bulk' },
    },
    apiKeyId: 'key9',
  });
  scratch.store.append(injectionEvent(facts('0000000000dd00000002', {}, null), 'x@two.example'));
  assert.deepEqual(await upstreamInjection(scratch.store, '0000000000dd00000002', log), {
    msys: {},
    apiKeyId: null,
  });
});

test('no injection event, or a failing scratch.store, gives null', async () => {
  assert.equal(await upstreamInjection(scratch.store, '0000000000dd00000099', log), null);
  const goneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-upstream-gone-'));
  const goneDb = openDatabase(goneDir);
  const gone = new EmbeddedEventStore(goneDb, goneDir);
  goneDb.close();
  try {
    assert.equal(await upstreamInjection(gone, '0000000000dd00000001', log), null);
  } finally {
    gone.close();
    fs.rmSync(goneDir, { recursive: true, force: true });
  }
});
