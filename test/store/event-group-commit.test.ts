/**
 * Specifies the group commit (as the milter uses it for injection events, with a batch cap) over
 * the real embedded store: the
 * records of one loop turn are one appendMany (one transaction), and each record() resolves only
 * once its events are in the database and events.jsonl, never before; a failed write rejects
 * every record() of that batch (those messages tempfail) and the next batch works again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { injectionEvent, type MessageFacts, type SluiceEvent } from '../../src/core/events.js';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedEventStore, EVENTS_LOG } from '../../src/store/embedded/events.js';
import { EventGroupCommit } from '../../src/store/event-group-commit.js';
import { scratchEventStore } from '../harness/scratch-events.js';

const scratch = scratchEventStore('sluice-milter-batch-');

const facts = (id: string): MessageFacts => ({
  message_id: id,
  transmission_id: '1',
  msg_from: 'app@one.example',
  friendly_from: '',
  subject: 's',
  msg_size: 10,
  injection_time: new Date().toISOString(),
  recv_method: 'esmtp',
  api_key_id: null,
  client_ip: '127.0.0.1',
  msys: {},
});
const injections = (id: string, n: number): SluiceEvent[] =>
  Array.from({ length: n }, (_, i) => injectionEvent(facts(id), `r${i}@two.example`));
const rows = (id: string) =>
  (scratch.db.prepare('SELECT count(*) AS n FROM events WHERE message_id = ?').get(id) as { n: number }).n;
const logged = (id: string) =>
  fs
    .readFileSync(path.join(scratch.dir, EVENTS_LOG), 'utf8')
    .split('\n')
    .filter((l) => l.includes(id)).length;

test('records of one turn share one appendMany and resolve only once stored', async () => {
  let writes = 0;
  const counting = {
    appendMany(events: readonly SluiceEvent[]) {
      writes++;
      scratch.store.appendMany(events);
    },
  };
  const batch = new EventGroupCommit(counting);
  const seen: number[] = [];
  const messages = ['0000000000aa00000001', '0000000000aa00000002', '0000000000aa00000003'];
  const done = messages.map((id, i) =>
    batch.record(injections(id, i + 1)).then(() => seen.push(rows(id), logged(id))),
  );
  assert.equal(rows(messages[0]!), 0, 'not written before the turn ends');
  await Promise.all(done);
  assert.equal(writes, 1, 'one commit for the three messages');
  assert.deepEqual(seen, [1, 1, 2, 2, 3, 3], 'each message saw its own events in the database and the log');
});

test('a full batch is written at once; an empty record resolves without a write', async () => {
  let writes = 0;
  const batch = new EventGroupCommit(
    {
      appendMany(events) {
        writes++;
        scratch.store.appendMany(events);
      },
    },
    4,
  );
  await batch.record([]);
  assert.equal(writes, 0);
  const pending = batch.record(injections('0000000000bb00000001', 4));
  assert.equal(writes, 1, 'the 4th event filled the batch');
  assert.equal(rows('0000000000bb00000001'), 4);
  await pending;
});

test('a failed write rejects every record of the batch; the next batch is stored', async () => {
  const goneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-milter-batch-gone-'));
  const goneDb = openDatabase(goneDir);
  const gone = new EmbeddedEventStore(goneDb, goneDir);
  goneDb.close();
  let target: Pick<EmbeddedEventStore, 'appendMany'> = gone;
  const batch = new EventGroupCommit({ appendMany: (events) => target.appendMany(events) });
  const outcomes = await Promise.allSettled([
    batch.record(injections('0000000000cc00000001', 1)),
    batch.record(injections('0000000000cc00000002', 2)),
  ]);
  gone.close();
  fs.rmSync(goneDir, { recursive: true, force: true });
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['rejected', 'rejected'],
  );
  assert.match(String((outcomes[0] as PromiseRejectedResult).reason), /not open/);
  target = scratch.store;
  await batch.record(injections('0000000000cc00000003', 1));
  assert.equal(rows('0000000000cc00000003'), 1);
});
