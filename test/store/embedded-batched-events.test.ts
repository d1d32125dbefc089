/**
 * Specifies the batched event writer in front of the embedded store: appends made in one turn of
 * the event loop land in one transaction (all in the database and in events.jsonl, in order) by
 * the next setImmediate; search() and close() see everything appended before them that they
 * could return (a search for other types does not write the queue); a full batch
 * is written at once; a failed write is reported with how many events were lost, and later
 * appends still work. Also: a click's injection lookup is served by the (message_id, type) index,
 * which also serves lookups by message alone (no index of message_id by itself).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { engagementEvent, type SluiceEvent } from '../../src/core/events.js';
import { BatchedEventStore } from '../../src/store/embedded/batched-events.js';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedEventStore, EVENTS_LOG } from '../../src/store/embedded/events.js';
import { scratchEventStore } from '../harness/scratch-events.js';

const scratch = scratchEventStore('sluice-batched-');

const click = (messageId: string, n: number): SluiceEvent =>
  engagementEvent(
    'click',
    { message_id: messageId, rcpt_to: 'alice@one.example' },
    null,
    { user_agent: 'test', ip_address: '127.0.0.1' },
    { target_link_url: `https://shop.example/${n}`, target_link_name: `n${n}` },
  );
const rows = (messageId: string) =>
  (
    scratch.db.prepare('SELECT count(*) AS n FROM events WHERE message_id = ?').get(messageId) as {
      n: number;
    }
  ).n;
const logLines = (messageId: string) =>
  fs
    .readFileSync(path.join(scratch.dir, EVENTS_LOG), 'utf8')
    .split('\n')
    .filter((l) => l.includes(messageId));

test('appends of one turn are written together by the next setImmediate, in order', async () => {
  const batched = new BatchedEventStore(scratch.store, () => assert.fail('no error expected'));
  for (let i = 0; i < 50; i++) batched.append(click('aa01', i));
  assert.equal(rows('aa01'), 0, 'queued, not yet written');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(rows('aa01'), 50);
  const urls = logLines('aa01').map((l) => (JSON.parse(l) as SluiceEvent).target_link_url);
  assert.deepEqual(
    urls,
    Array.from({ length: 50 }, (_, i) => `https://shop.example/${i}`),
  );
});

test('search() and close() see every event appended before them', async () => {
  const batched = new BatchedEventStore(scratch.store, () => assert.fail('no error expected'));
  batched.append(click('aa02', 1));
  // A search for other types (a click's injection lookup) leaves the queue as it is.
  assert.equal((await batched.search({ types: ['injection'], messageId: 'aa02' })).length, 0);
  assert.equal(rows('aa02'), 0, 'still queued');
  assert.equal((await batched.search({ types: ['click'], messageId: 'aa02' })).length, 1);
  batched.append(click('aa02', 3));
  assert.equal((await batched.search({ messageId: 'aa02' })).length, 2);
  batched.append(click('aa02', 2));
  batched.close();
  assert.equal(rows('aa02'), 3);
});

test('a full batch is written at once', () => {
  const batched = new BatchedEventStore(scratch.store, () => assert.fail('no error expected'), 10);
  for (let i = 0; i < 25; i++) batched.append(click('aa03', i));
  assert.equal(rows('aa03'), 20, 'two full batches written, five queued');
  batched.flush();
  assert.equal(rows('aa03'), 25);
});

test('a failed write is reported with the number lost; later appends still work', () => {
  // A real scratch.store whose database has gone away (closed): its writes throw.
  const goneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-batched-gone-'));
  const goneDb = openDatabase(goneDir);
  const gone = new EmbeddedEventStore(goneDb, goneDir);
  goneDb.close();
  const failures: { lost: number; message: string }[] = [];
  const failing = new BatchedEventStore(gone, (error, lost) =>
    failures.push({ lost, message: (error as Error).message }),
  );
  failing.append(click('aa04', 1));
  failing.append(click('aa04', 2));
  failing.flush();
  gone.close();
  fs.rmSync(goneDir, { recursive: true, force: true });
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.lost, 2);
  assert.match(failures[0]!.message, /not open/);
  const batched = new BatchedEventStore(scratch.store, () => assert.fail('no error expected'));
  batched.append(click('aa04', 3));
  batched.flush();
  assert.equal(rows('aa04'), 1);
});

test('the lookup a click makes (its injection) is one index probe, not a scan of the message', () => {
  const plan = scratch.db
    .prepare(
      'EXPLAIN QUERY PLAN SELECT body FROM events WHERE type IN (?) AND rcpt_to = ? AND message_id = ? ORDER BY seq DESC LIMIT ?',
    )
    .all('injection', 'alice@one.example', 'aa01', 1) as { detail: string }[];
  assert.match(
    plan.map((p) => p.detail).join('; '),
    /USING INDEX events_message_type \(message_id=\? AND type=\?\)/,
  );
});

test('every event carries three secondary indexes (a fourth, partial, only when it has a queue id); a search by message id uses (message_id, type) and the queue id index', () => {
  const indexes = scratch.db
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL",
    )
    .all() as { name: string }[];
  assert.deepEqual(indexes.map((i) => i.name).sort(), [
    'events_message_type',
    'events_queue',
    'events_rcpt',
    'events_time',
  ]);
  const partial = scratch.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'events_queue'").get() as {
    sql: string;
  };
  assert.match(partial.sql, /WHERE queue_id IS NOT NULL/);
  const plan = scratch.db
    .prepare(
      'EXPLAIN QUERY PLAN SELECT body FROM events WHERE (message_id = ? OR queue_id = ?) ORDER BY seq DESC LIMIT ?',
    )
    .all('aa01', 'aa01', 10) as { detail: string }[];
  const details = plan.map((p) => p.detail).join('; ');
  assert.match(details, /USING INDEX events_message_type \(message_id=\?\)/);
  assert.match(details, /USING INDEX events_queue \(queue_id=\?\)/);
});
