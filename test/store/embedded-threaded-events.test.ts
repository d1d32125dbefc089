/**
 * Specifies ThreadedEventStore, the engagement-event writer whose commits run on a worker thread
 * with its own SQLite connection: what it is given ends up in the database and in events.jsonl
 * (all of it once settled(), and once close() resolves); a search or page asking for the types
 * being written sees them; past the in-flight bound appends are written synchronously on the
 * main thread; a batch the worker cannot write is reported with how many events were lost while
 * later batches still land; after close() appends still land (synchronously); a worker that
 * cannot start fails ready() and appends go to the main-thread store. Also end to end
 * with BatchedEventStore in front, as `sluice serve` runs it. commit() (the queue's durable
 * append) resolves only once its batch is in the database and rejects, to its caller alone, when
 * the batch cannot be written; behind EventGroupCommit every record() of a turn waits for it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { engagementEvent, type SluiceEvent } from '../../src/core/events.js';
import { BatchedEventStore } from '../../src/store/embedded/batched-events.js';
import { EVENTS_LOG } from '../../src/store/embedded/events.js';
import { ThreadedEventStore } from '../../src/store/embedded/threaded-events.js';
import { EventGroupCommit } from '../../src/store/event-group-commit.js';
import { scratchEventStore } from '../harness/scratch-events.js';

const scratch = scratchEventStore('sluice-threaded-');

const click = (messageId: string, n: number): SluiceEvent =>
  engagementEvent(
    'click',
    { message_id: messageId, rcpt_to: 'alice@one.example' },
    null,
    { user_agent: 'test', ip_address: '127.0.0.1' },
    { target_link_url: `https://shop.example/${n}`, target_link_name: `link-${n}` },
  );

const countOf = (messageId: string) =>
  (
    scratch.db.prepare('SELECT count(*) AS n FROM events WHERE message_id = ?').get(messageId) as {
      n: number;
    }
  ).n;
const logLines = (messageId: string) =>
  fs
    .readFileSync(path.join(scratch.dir, EVENTS_LOG), 'utf8')
    .split('\n')
    .filter((line) => line.includes(`"message_id":"${messageId}"`));

test('batches are committed by the worker: in the database and events.jsonl once settled, in order', async () => {
  const lost: number[] = [];
  const threaded = new ThreadedEventStore(scratch.dir, scratch.store, (_e, n) => lost.push(n));
  await threaded.ready();
  const events = Array.from({ length: 250 }, (_, i) => click('m-order', i));
  threaded.appendMany(events.slice(0, 100));
  threaded.appendMany(events.slice(100));
  await threaded.settled();
  assert.equal(countOf('m-order'), 250);
  const rows = scratch.db
    .prepare("SELECT body FROM events WHERE message_id = 'm-order' ORDER BY seq")
    .all() as {
    body: string;
  }[];
  assert.deepEqual(
    rows.map((r) => JSON.parse(r.body)),
    events,
  );
  assert.deepEqual(
    logLines('m-order').map((line) => JSON.parse(line)),
    events,
  );
  await threaded.close();
  assert.deepEqual(lost, []);
});

test('a search or page for the types being written waits for them; the API sees every append', async () => {
  const threaded = new ThreadedEventStore(scratch.dir, scratch.store, () => assert.fail('nothing is lost'));
  for (let i = 0; i < 20; i++) threaded.append(click('m-search', i));
  const found = await threaded.search({ types: ['click'], messageId: 'm-search' });
  assert.equal(found.length, 20);
  threaded.append(click('m-search', 20));
  const page = await threaded.page({ messageIds: ['m-search'], limit: 100 });
  assert.equal(page.total, 21);
  await threaded.close();
});

test('past the in-flight bound an append is written at once on the main thread', async () => {
  const threaded = new ThreadedEventStore(
    scratch.dir,
    scratch.store,
    () => assert.fail('nothing is lost'),
    0,
  );
  threaded.appendMany([click('m-bound', 1), click('m-bound', 2)]);
  // No settling needed: the fallback wrote it synchronously.
  assert.equal(countOf('m-bound'), 2);
  await threaded.close();
});

test('a batch the worker cannot write is reported lost with its count; later batches still land', async () => {
  const lost: { error: unknown; n: number }[] = [];
  const threaded = new ThreadedEventStore(scratch.dir, scratch.store, (error, n) => lost.push({ error, n }));
  const broken = [click('m-broken', 1), { ...click('m-broken', 2), timestamp: null as unknown as string }];
  threaded.appendMany(broken);
  threaded.appendMany([click('m-after', 1)]);
  await threaded.settled();
  assert.equal(lost.length, 1);
  assert.equal(lost[0]!.n, 2);
  assert.match(String(lost[0]!.error), /NOT NULL|timestamp/i);
  assert.equal(countOf('m-broken'), 0, 'a failed batch is all or nothing');
  assert.equal(countOf('m-after'), 1);
  await threaded.close();
});

test('close() waits for what was posted; appends after it are written synchronously', async () => {
  const threaded = new ThreadedEventStore(scratch.dir, scratch.store, () => assert.fail('nothing is lost'));
  threaded.appendMany(Array.from({ length: 500 }, (_, i) => click('m-close', i)));
  await threaded.close();
  assert.equal(countOf('m-close'), 500);
  threaded.append(click('m-close', 500));
  assert.equal(countOf('m-close'), 501);
});

test('behind BatchedEventStore, as serve runs it: a burst of clicks in one turn all land', async () => {
  const threaded = new ThreadedEventStore(scratch.dir, scratch.store, () => assert.fail('nothing is lost'));
  const batched = new BatchedEventStore(threaded, () => assert.fail('nothing is lost'));
  for (let i = 0; i < 2_500; i++) batched.append(click('m-burst', i));
  const page = await batched.page({ messageIds: ['m-burst'], types: ['click'], limit: 10 });
  assert.equal(page.total, 2_500);
  batched.close();
  await threaded.close();
  assert.equal(logLines('m-burst').length, 2_500);
});

test('a worker that cannot open the events table fails ready(); appends then go to the main-thread store', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-threaded-empty-'));
  try {
    const lost: number[] = [];
    const threaded = new ThreadedEventStore(empty, scratch.store, (_e, n) => lost.push(n));
    // The worker's SqliteError arrives cloned: its code survives.
    await assert.rejects(threaded.ready(), (error: { code?: string }) => {
      assert.equal(error.code, 'SQLITE_ERROR');
      return true;
    });
    threaded.append(click('m-fallback', 1));
    assert.equal(countOf('m-fallback'), 1);
    assert.deepEqual(lost, []);
    await threaded.close();
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

test('commit() resolves once its batch is in the database; a failed batch rejects it, not onError', async () => {
  const threaded = new ThreadedEventStore(scratch.dir, scratch.store, () =>
    assert.fail('nothing reported lost'),
  );
  await threaded.ready();
  const committing = threaded.commit([click('m-commit', 1), click('m-commit', 2)]);
  assert.equal(countOf('m-commit'), 0, 'posted, not yet written, when commit() returns');
  await committing;
  assert.equal(countOf('m-commit'), 2, 'written when it resolves');
  const broken = [
    click('m-commit-bad', 1),
    { ...click('m-commit-bad', 2), timestamp: null as unknown as string },
  ];
  await assert.rejects(threaded.commit(broken), /NOT NULL|timestamp/i);
  assert.equal(countOf('m-commit-bad'), 0);
  await threaded.commit([click('m-commit', 3)]);
  assert.equal(countOf('m-commit'), 3, 'later batches still land');
  await threaded.close();
});

test('behind EventGroupCommit, as the queue runs it: every record() of a turn waits for the commit', async () => {
  const threaded = new ThreadedEventStore(scratch.dir, scratch.store, () =>
    assert.fail('nothing reported lost'),
  );
  await threaded.ready();
  const group = new EventGroupCommit({ appendMany: (batch) => threaded.commit(batch) });
  const seen: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      group.record([click('m-group', i)]).then(() => seen.push(countOf('m-group'))),
    ),
  );
  assert.equal(seen.length, 20);
  assert.ok(
    seen.every((n) => n === 20),
    `each record() resolved with the whole turn stored: ${seen}`,
  );
  const failing = new EventGroupCommit({ appendMany: () => Promise.reject(new Error('disk full')) });
  await assert.rejects(failing.record([click('m-group-lost', 1)]), /disk full/);
  await threaded.close();
});
