/**
 * Specifies the queue manager as a component: a real spool in a temp dir, the real Deliverer,
 * ConnectionPool and Router (with fixed DNS records) delivering to a recording SMTP sink on
 * 127.0.0.1. Accepted messages are delivered and leave the spool; per-recipient 550 and 250 in one
 * transaction give one bounce (with bounce_class) and one delivery; a 451 gives a delay event and
 * a later delivery on the retry schedule, read back from the spool file; a message older than
 * max_queue_lifetime that is deferred bounces with bounce_class 24; recipients in two domains are
 * two jobs (two transactions), the second of which finds the message still in memory when it
 * was queued behind the first; and a restarted QueueManager on the same spool resumes without
 * sending again to recipients already recorded as done.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import type { MessageFacts, SluiceEvent } from '../../src/core/events.js';
import { newMessageId, transmissionIdFor } from '../../src/core/ids.js';
import { Deliverer } from '../../src/delivery/deliver.js';
import { ConnectionPool } from '../../src/delivery/pool.js';
import { staticResolver } from '../../src/delivery/resolver.js';
import { Router } from '../../src/delivery/route.js';
import { acceptMessage } from '../../src/queue/accept.js';
import { QueueManager, type QueueOptions } from '../../src/queue/manager.js';
import { Spool } from '../../src/queue/spool.js';
import type { SpoolEnvelope } from '../../src/queue/spool-format.js';
import type { EventFilter, EventStore } from '../../src/store/types.js';
import { waitFor } from '../harness/net.js';
import { type SinkOptions, startSink } from '../harness/sink.js';

/** An EventStore in memory, newest first on search, as the port asks. */
class MemoryEvents implements EventStore {
  readonly all: SluiceEvent[] = [];
  append(event: SluiceEvent): void {
    this.all.push(event);
  }
  appendMany(events: readonly SluiceEvent[]): void {
    this.all.push(...events);
  }
  async search(filter: EventFilter): Promise<SluiceEvent[]> {
    return this.all
      .filter((e) => !filter.types || filter.types.includes(e.type))
      .filter((e) => !filter.recipient || e.rcpt_to === filter.recipient.toLowerCase())
      .filter((e) => !filter.messageId || e.message_id === filter.messageId)
      .reverse()
      .slice(0, filter.limit ?? 1000);
  }
  async page(filter: { limit: number }) {
    const events = [...this.all].reverse();
    return { events: events.slice(0, filter.limit), next: null, total: events.length };
  }
  of(type: string, rcpt?: string): SluiceEvent[] {
    return this.all.filter((e) => e.type === type && (rcpt === undefined || e.rcpt_to === rcpt));
  }
}

const BODY = Buffer.from(
  'Received: from client.test by sluice.test\r\nFrom: sender@origin.test\r\nSubject: queue test\r\n\r\n' +
    'Hello.\r\n..a line starting with a dot\r\n',
);

/** Everything one test needs; cleanup() stops it in the right order and removes the temp dir. */
async function rig(sinkOptions: SinkOptions = {}, queueOptions: Partial<QueueOptions> = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-queue-'));
  const spool = new Spool(dataDir);
  await spool.init();
  const sink = await startSink(sinkOptions);
  // Two recipient domains, each with an MX that resolves to the loopback sink.
  const resolver = staticResolver({
    mx: {
      'a.test': [{ exchange: 'mx.a.test', priority: 10 }],
      'b.test': [{ exchange: 'mx.b.test', priority: 10 }],
    },
    a: { 'mx.a.test': ['127.0.0.1'], 'mx.b.test': ['127.0.0.1'] },
  });
  const pool = new ConnectionPool({
    maxPerHop: 4,
    maxMessages: 100,
    idleMs: 5000,
    connectMs: 5000,
    commandMs: 10_000,
    heloName: 'sluice.test',
    tls: 'none',
  });
  const deliverer = new Deliverer(new Router(resolver, sink.port, null), pool);
  const events = new MemoryEvents();
  const log = pino({ level: 'silent' });
  const options: QueueOptions = {
    maxConcurrent: 4,
    retrySchedule: [100],
    maxLifetime: 3_600_000,
    ...queueOptions,
  };
  const queues: QueueManager[] = [];
  const newQueue = (opts: Partial<QueueOptions> = {}) => {
    const queue = new QueueManager(spool, deliverer, events, log, { ...options, ...opts });
    queues.push(queue);
    return queue;
  };
  const queue = newQueue();

  /** Spools a message and hands it to the queue, as a door does after DATA. */
  async function inject(rcpts: string[], opts: { injectedAgoMs?: number; to?: QueueManager } = {}) {
    const id = newMessageId();
    const writer = await spool.createWriter(id);
    await writer.write(BODY);
    const facts: MessageFacts = {
      message_id: id,
      transmission_id: transmissionIdFor(id),
      msg_from: 'sender@origin.test',
      friendly_from: 'sender@origin.test',
      subject: 'queue test',
      msg_size: BODY.length,
      injection_time: new Date(Date.now() - (opts.injectedAgoMs ?? 0)).toISOString(),
      recv_method: 'esmtp',
      api_key_id: null,
      client_ip: '127.0.0.1',
      msys: { campaign_id: 'queue-spec' },
    };
    const envelope: SpoolEnvelope = { v: 1, mail_from: 'sender@origin.test', rcpts, facts };
    await acceptMessage(writer, envelope, { queue: opts.to ?? queue });
    return id;
  }

  const spoolEmpty = () =>
    waitFor(async () => fs.readdirSync(spool.dir).length === 0, 10_000, 'an empty spool');

  async function cleanup() {
    for (const q of queues) await q.stop(5000);
    pool.closeAll();
    await sink.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  return { spool, sink, events, queue, newQueue, inject, spoolEmpty, cleanup };
}

describe('QueueManager with real delivery to a recording sink', () => {
  let cleanup: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await cleanup?.();
    cleanup = null;
  });

  test('an accepted message is delivered: injection and delivery events, the exact bytes, an empty spool', async () => {
    const r = await rig();
    cleanup = r.cleanup;
    const id = await r.inject(['alice@a.test', 'bob@a.test']);
    await waitFor(() => r.events.of('delivery').length === 2, 10_000, 'two delivery events');
    await r.spoolEmpty();

    assert.equal(r.sink.messages.length, 1, 'one domain, one transaction');
    const [received] = r.sink.messages;
    assert.equal(received!.mailFrom, 'sender@origin.test');
    assert.deepEqual(received!.rcptTo, ['alice@a.test', 'bob@a.test']);
    assert.ok(received!.data.equals(BODY), 'the peer got the spooled bytes unchanged');

    assert.equal(r.events.of('injection').length, 2);
    for (const rcpt of ['alice@a.test', 'bob@a.test']) {
      const [delivery] = r.events.of('delivery', rcpt);
      assert.ok(delivery, `delivery event for ${rcpt}`);
      assert.equal(delivery.message_id, id);
      assert.equal(delivery.mx_hostname, 'mx.a.test');
      assert.equal(delivery.num_retries, '0');
      assert.equal(delivery.campaign_id, 'queue-spec');
      assert.equal(delivery.routing_domain, 'a.test');
    }
    assert.deepEqual(r.events.of('bounce'), []);
    assert.equal(r.queue.stats.messages, 0);
  });

  test('550 for one recipient and 250 for another in one message: one bounce, one delivery, message removed', async () => {
    const r = await rig({
      replyFor: (rcpt) => (rcpt.startsWith('nobody@') ? [550, '5.1.1 nobody here'] : undefined),
    });
    cleanup = r.cleanup;
    await r.inject(['nobody@a.test', 'somebody@a.test']);
    await waitFor(
      () => r.events.of('bounce').length + r.events.of('delivery').length === 2,
      10_000,
      'outcomes',
    );
    await r.spoolEmpty();

    const bounces = r.events.of('bounce');
    assert.equal(bounces.length, 1);
    assert.equal(bounces[0]!.rcpt_to, 'nobody@a.test');
    assert.equal(bounces[0]!.error_code, '550');
    assert.equal(bounces[0]!.bounce_class, '10', 'invalid recipient');
    assert.match(String(bounces[0]!.raw_reason), /5\.1\.1 nobody here/);
    const deliveries = r.events.of('delivery');
    assert.equal(deliveries.length, 1);
    assert.equal(deliveries[0]!.rcpt_to, 'somebody@a.test');
    assert.deepEqual(
      r.sink.messages.map((m) => m.rcptTo),
      [['somebody@a.test']],
    );
    assert.deepEqual(r.events.of('delay'), []);
  });

  test('a message refused at DATA with 554 bounces for every recipient', async () => {
    const r = await rig({ dataReply: () => [554, '5.7.1 message refused as spam'] });
    cleanup = r.cleanup;
    await r.inject(['x@a.test', 'y@a.test']);
    await waitFor(() => r.events.of('bounce').length === 2, 10_000, 'two bounces');
    await r.spoolEmpty();
    for (const bounce of r.events.of('bounce')) {
      assert.equal(bounce.error_code, '554');
      assert.equal(bounce.bounce_class, '51', 'a spam block');
    }
  });

  test('451 gives a delay event, then a delivery on the retry schedule once the peer accepts', async () => {
    let accepting = false;
    const r = await rig(
      { replyFor: () => (accepting ? undefined : [451, '4.3.0 try again later']) },
      { retrySchedule: [100] },
    );
    cleanup = r.cleanup;
    await r.inject(['later@a.test']);
    await waitFor(() => r.events.of('delay').length >= 1, 10_000, 'a delay event');
    const [delay] = r.events.of('delay');
    assert.equal(delay!.rcpt_to, 'later@a.test');
    assert.equal(delay!.error_code, '451');
    assert.equal(delay!.num_retries, '0');
    assert.equal(delay!.bounce_class, '20', 'a soft bounce class on the delay');
    assert.ok(fs.readdirSync(r.spool.dir).length > 0, 'a deferred message stays in the spool');

    accepting = true;
    await waitFor(() => r.events.of('delivery').length === 1, 10_000, 'the later delivery');
    await r.spoolEmpty();
    const [delivery] = r.events.of('delivery');
    assert.ok(Number(delivery!.num_retries) >= 1, 'the delivery counts the earlier attempts');
    assert.equal(r.sink.messages.length, 1);
    assert.ok(r.sink.messages[0]!.data.equals(BODY), 'the retry read the body back from the spool file');
    assert.deepEqual(r.events.of('bounce'), []);
  });

  test('a deferred recipient of a message older than max_queue_lifetime bounces with class 24', async () => {
    const r = await rig({ replyFor: () => [451, '4.3.0 try again later'] }, { maxLifetime: 1000 });
    cleanup = r.cleanup;
    await r.inject(['stale@a.test'], { injectedAgoMs: 5000 });
    await waitFor(() => r.events.of('bounce').length === 1, 10_000, 'an expiry bounce');
    await r.spoolEmpty();
    const [bounce] = r.events.of('bounce');
    assert.equal(bounce!.rcpt_to, 'stale@a.test');
    assert.equal(bounce!.bounce_class, '24');
    assert.match(
      String(bounce!.raw_reason),
      /^554 5\.4\.7 Delivery time expired after 1 attempts; last: 451/,
    );
    assert.deepEqual(r.events.of('delay'), [], 'no delay: the attempt was the last');
    assert.equal(r.sink.messages.length, 0);
    assert.equal(r.queue.stats.deferred, 0);
  });

  test('a message to two domains is two jobs: two transactions, both delivered, one spool file removed', async () => {
    const r = await rig();
    cleanup = r.cleanup;
    const id = await r.inject(['one@a.test', 'two@b.test', 'three@A.TEST']);
    await waitFor(() => r.events.of('delivery').length === 3, 10_000, 'three deliveries');
    await r.spoolEmpty();
    const byRcpts = r.sink.messages.map((m) => m.rcptTo.join(',')).sort();
    assert.deepEqual(byRcpts, ['one@a.test,three@A.TEST', 'two@b.test'], 'domains group case-insensitively');
    const hosts = r.events
      .of('delivery')
      .map((e) => `${e.rcpt_to} ${e.mx_hostname}`)
      .sort();
    assert.deepEqual(hosts, ['one@a.test mx.a.test', 'three@a.test mx.a.test', 'two@b.test mx.b.test']);
    assert.ok(r.events.of('delivery').every((e) => e.message_id === id));
  });

  test('a message to two domains run one after the other is read from the spool by neither job', async () => {
    // One delivery at a time: the second domain's job waits, queued, while the first one runs.
    const r = await rig({}, { maxConcurrent: 1 });
    cleanup = r.cleanup;
    const reads: string[] = [];
    const bodies: string[] = [];
    const { spool } = r;
    const read = spool.read.bind(spool);
    const body = spool.body.bind(spool);
    spool.read = async (id) => {
      reads.push(id);
      return await read(id);
    };
    spool.body = (message) => {
      const source = body(message);
      bodies.push(Buffer.isBuffer(source) ? 'memory' : 'file');
      return source;
    };
    await r.inject(['one@a.test', 'two@b.test']);
    await waitFor(() => r.events.of('delivery').length === 2, 10_000, 'two deliveries');
    await r.spoolEmpty();
    assert.equal(r.sink.messages.length, 2, 'two transactions');
    assert.deepEqual(reads, [], 'the envelope stayed in memory for the second job');
    assert.deepEqual(bodies, ['memory', 'memory']);
  });

  test('a restarted queue resumes a half-delivered message without sending again to finished recipients', async () => {
    // First run: a.test accepts, b.test defers with a long retry wait; then the process "stops".
    let acceptB = false;
    const r = await rig(
      { replyFor: (rcpt) => (rcpt.endsWith('@b.test') && !acceptB ? [451, '4.3.0 later'] : undefined) },
      { retrySchedule: [3_600_000] },
    );
    cleanup = r.cleanup;
    const id = await r.inject(['a1@a.test', 'a2@a.test', 'b1@b.test']);
    await waitFor(async () => (await r.spool.read(id))?.done.size === 2, 10_000, 'a.test recorded as done');
    await waitFor(() => r.events.of('delay').length === 1, 10_000, 'the b.test delay');
    await r.queue.stop(5000);
    assert.deepEqual([...(await r.spool.read(id))!.done].sort(), ['a1@a.test', 'a2@a.test']);
    assert.equal(r.sink.messages.length, 1);

    // Second run on the same spool: only b1 is attempted.
    acceptB = true;
    const restarted = r.newQueue({ retrySchedule: [100] });
    assert.equal(await restarted.recover(), 1);
    await waitFor(() => r.events.of('delivery', 'b1@b.test').length === 1, 10_000, 'b1 delivered');
    await r.spoolEmpty();
    assert.equal(r.sink.messages.length, 2);
    assert.deepEqual(r.sink.messages[1]!.rcptTo, ['b1@b.test']);
    assert.equal(r.events.of('delivery', 'a1@a.test').length, 1, 'a1 was delivered once, before the restart');
    assert.equal(r.events.of('delivery', 'a2@a.test').length, 1);
  });

  test('recovery of a message whose every recipient is done sends nothing and removes it', async () => {
    const r = await rig();
    cleanup = r.cleanup;
    const stopped = r.newQueue();
    await stopped.stop(0); // a queue that starts nothing, so the message only reaches the spool
    const id = await r.inject(['x@a.test', 'y@b.test'], { to: stopped });
    await r.spool.markDone(id, ['x@a.test', 'y@b.test']);
    const fresh = r.newQueue();
    assert.equal(await fresh.recover(), 1);
    await r.spoolEmpty();
    assert.equal(r.sink.messages.length, 0);
    assert.deepEqual(r.events.of('delivery'), []);
  });

  test('recovery removes and logs spool files that were never acknowledged, and delivers the rest', async () => {
    const r = await rig();
    cleanup = r.cleanup;
    const stopped = r.newQueue();
    await stopped.stop(0);
    await r.inject(['ok@a.test'], { to: stopped });
    fs.writeFileSync(r.spool.fileOf(newMessageId()), 'Subject: half written\r\n\r\n');
    const fresh = r.newQueue();
    assert.equal(await fresh.recover(), 1);
    await waitFor(() => r.events.of('delivery').length === 1, 10_000, 'the good message delivered');
    await r.spoolEmpty();
  });
});
