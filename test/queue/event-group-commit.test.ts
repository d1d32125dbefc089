/**
 * Specifies the engine's group commit on the embedded store: injection and delivery events
 * recorded in one turn of the event loop are written by one appendMany (one transaction), and every
 * record() of that turn resolves only once its events are in the database; batches of later turns
 * follow in the order they were recorded; a failed write rejects each record() of its batch, and
 * the next turn writes again. Also: acceptMessage queues a message only once the injection
 * events it recorded through the group commit are stored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliveryEvent, injectionEvent, type MessageFacts, type SluiceEvent } from '../../src/core/events.js';
import { newMessageId, transmissionIdFor } from '../../src/core/ids.js';
import { acceptMessage } from '../../src/queue/accept.js';
import { Spool, type SpooledMessage } from '../../src/queue/spool.js';
import { EventGroupCommit } from '../../src/store/event-group-commit.js';
import { scratchEventStore } from '../harness/scratch-events.js';

const scratch = scratchEventStore('sluice-group-commit-');

/** The store, counting its appendMany calls and failing the next one when asked. */
const counted = {
  writes: 0,
  failNext: false,
  appendMany(events: readonly SluiceEvent[]) {
    this.writes++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    scratch.store.appendMany(events);
  },
};

function factsOf(id: string): MessageFacts {
  return {
    message_id: id,
    transmission_id: transmissionIdFor(id),
    msg_from: 'app@origin.test',
    friendly_from: 'app@origin.test',
    subject: 'group commit',
    msg_size: 10,
    injection_time: new Date().toISOString(),
    recv_method: 'esmtp',
    api_key_id: null,
    client_ip: '127.0.0.1',
    msys: {},
  };
}
const stored = (id: string) =>
  scratch.db.prepare('SELECT type, rcpt_to FROM events WHERE message_id = ? ORDER BY seq').all(id) as Array<{
    type: string;
    rcpt_to: string;
  }>;
const delivered = { mx_host: 'mx.one.example', num_retries: 0 };

test('events recorded in one turn are one write; each record() resolves once they are stored', async () => {
  const commit = new EventGroupCommit(counted);
  const before = counted.writes;
  const ids = [newMessageId(), newMessageId(), newMessageId()];
  const waits = ids.map((id) =>
    commit.record([
      injectionEvent(factsOf(id), 'a@one.example'),
      injectionEvent(factsOf(id), 'b@one.example'),
    ]),
  );
  for (const id of ids) assert.equal(stored(id).length, 0, 'not written before the turn ends');
  let seen = -1;
  await waits[0]!.then(() => {
    seen = stored(ids[2]!).length;
  });
  await Promise.all(waits);
  assert.equal(seen, 2, 'the first record() resolved with the whole turn already stored');
  assert.equal(counted.writes - before, 1, 'one appendMany for the turn');
});

test('batches of later turns are written after earlier ones: an injection never follows its delivery', async () => {
  const commit = new EventGroupCommit(counted);
  const id = newMessageId();
  const facts = factsOf(id);
  const injected = commit.record([injectionEvent(facts, 'a@one.example')]);
  await new Promise((resolve) => setImmediate(resolve));
  await commit.record([deliveryEvent(facts, 'a@one.example', delivered)]);
  await injected;
  assert.deepEqual(
    stored(id).map((row) => row.type),
    ['injection', 'delivery'],
  );
});

test('a failed write rejects every record() of its batch; the next turn writes again', async () => {
  const commit = new EventGroupCommit(counted);
  const lost = newMessageId();
  counted.failNext = true;
  const results = await Promise.allSettled([
    commit.record([injectionEvent(factsOf(lost), 'a@one.example')]),
    commit.record([injectionEvent(factsOf(lost), 'b@one.example')]),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  assert.equal(stored(lost).length, 0);
  const kept = newMessageId();
  await commit.record([injectionEvent(factsOf(kept), 'a@one.example')]);
  assert.equal(stored(kept).length, 1);
});

test('a message accepted through acceptMessage is queued only once its injection events are stored', async () => {
  const spool = new Spool(scratch.dir);
  await spool.init();
  const commit = new EventGroupCommit(counted);
  const queued: Array<{ id: string; injections: number }> = [];
  const queue = {
    recordEvents: (events: readonly SluiceEvent[]) => commit.record(events),
    add: (message: SpooledMessage) => {
      queued.push({ id: message.id, injections: stored(message.id).length });
    },
  };
  const ids = Array.from({ length: 5 }, () => newMessageId());
  const writers = await Promise.all(ids.map((id) => spool.createWriter(id)));
  for (const writer of writers) await writer.write(Buffer.from('Subject: hi\r\n\r\nbody\r\n'));
  await Promise.all(
    writers.map((writer, i) =>
      acceptMessage(
        writer,
        {
          v: 1,
          mail_from: 'app@origin.test',
          rcpts: ['a@one.example', 'b@two.example'],
          facts: factsOf(ids[i]!),
        },
        { queue },
      ),
    ),
  );
  assert.deepEqual(
    queued.map((q) => q.injections),
    [2, 2, 2, 2, 2],
    'each message queued with its two injection events stored',
  );
});
