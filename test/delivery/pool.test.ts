/**
 * Specifies the outbound ConnectionPool against a local smtp-server sink that counts the
 * connections it sees: a connection is reused across messages (one TCP connection for many
 * messages, `reused` set from the second lease on), closed after maxMessages messages, never more
 * than maxPerHop open to one hop however many senders wait (waiters are served in turn, FIFO), a
 * connection released as not reusable is closed and replaced, an idle one is closed after idleMs,
 * a hop that refuses connections rejects acquire() without leaking a slot, and closeAll() closes
 * idle connections and refuses waiters.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { SMTPServer } from 'smtp-server';
import { ConnectionPool, type Lease, type PoolOptions } from '../../src/delivery/pool.js';
import type { Hop } from '../../src/delivery/route.js';
import { freePort, waitFor } from '../harness/net.js';

/** A sink that counts connections: opened in all, open now, and the most open at once. */
async function countingSink(options: { dataDelayMs?: number } = {}) {
  const stats = { opened: 0, open: 0, peak: 0, messages: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    closeTimeout: 1000,
    onConnect(_session, callback) {
      stats.opened++;
      stats.open++;
      stats.peak = Math.max(stats.peak, stats.open);
      callback();
    },
    onClose() {
      stats.open--;
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => {
        stats.messages++;
        // Holding the reply keeps the connection busy, so concurrent senders really overlap.
        setTimeout(() => callback(), options.dataDelayMs ?? 0);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const sockets = new Set<Socket>();
  server.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    stats,
    hop: { name: 'sink.test', address: '127.0.0.1', port } satisfies Hop,
    /** The peer drops every connection, as a server that times out idle clients does. */
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const OPTIONS: PoolOptions = {
  maxPerHop: 5,
  maxMessages: 100,
  idleMs: 10_000,
  connectMs: 5000,
  commandMs: 10_000,
  heloName: 'sluice.test',
  tls: 'none',
};

/** Sends one small message over a lease's connection. */
function send(connection: SMTPConnection, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    connection.send(
      { from: 'sender@sluice.test', to: [`rcpt${n}@sink.test`] },
      Buffer.from(`Subject: message ${n}\r\n\r\nbody\r\n`),
      (error) => (error ? reject(error) : resolve()),
    );
  });
}

/** Acquire, send, release as reusable: what the Deliverer does for a successful message. */
async function deliverOne(pool: ConnectionPool, hop: Hop, n: number): Promise<Lease> {
  const lease = await pool.acquire(hop);
  try {
    await send(lease.connection, n);
    lease.release(true);
  } catch (error) {
    lease.release(false);
    throw error;
  }
  return lease;
}

describe('ConnectionPool', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(poolOptions: Partial<PoolOptions> = {}, sinkOptions: { dataDelayMs?: number } = {}) {
    const sink = await countingSink(sinkOptions);
    cleanups.push(() => sink.stop());
    const pool = new ConnectionPool({ ...OPTIONS, ...poolOptions });
    cleanups.push(() => pool.closeAll());
    return { sink, pool };
  }

  test('one connection carries many messages in turn; reused is false only for the first', async () => {
    const { sink, pool } = await setup();
    const leases: Lease[] = [];
    for (let i = 0; i < 5; i++) leases.push(await deliverOne(pool, sink.hop, i));
    assert.equal(sink.stats.messages, 5);
    assert.equal(sink.stats.opened, 1, 'one TCP connection for five messages');
    assert.deepEqual(
      leases.map((l) => l.reused),
      [false, true, true, true, true],
    );
    assert.ok(leases.every((l) => l.connection === leases[0]!.connection));
    assert.equal(pool.size, 1);
  });

  test('a connection is closed after maxMessages messages and a fresh one opened', async () => {
    const { sink, pool } = await setup({ maxMessages: 2 });
    for (let i = 0; i < 5; i++) await deliverOne(pool, sink.hop, i);
    assert.equal(sink.stats.messages, 5);
    assert.equal(sink.stats.opened, 3, '2 + 2 + 1 messages');
    await waitFor(() => sink.stats.open === 1, 5000, 'the used-up connections to close');
  });

  test('never more than maxPerHop connections to one hop, even with many concurrent senders', async () => {
    const { sink, pool } = await setup({ maxPerHop: 2 }, { dataDelayMs: 20 });
    let poolPeak = 0;
    const senders = Array.from({ length: 12 }, async (_, i) => {
      const lease = await pool.acquire(sink.hop);
      poolPeak = Math.max(poolPeak, pool.size);
      await send(lease.connection, i);
      lease.release(true);
    });
    await Promise.all(senders);
    assert.equal(sink.stats.messages, 12);
    assert.equal(sink.stats.peak, 2, 'the sink saw two connections at most, and both were used');
    assert.equal(sink.stats.opened, 2, 'the waiting senders reused them');
    assert.ok(poolPeak <= 2);
  });

  test('separate hops have separate limits', async () => {
    const { sink, pool } = await setup({ maxPerHop: 1 });
    const other = await countingSink();
    cleanups.push(() => other.stop());
    const a = await pool.acquire(sink.hop);
    const b = await pool.acquire(other.hop); // not blocked by the lease on the first hop
    assert.equal(pool.size, 2);
    a.release(true);
    b.release(true);
    pool.closeAll(); // before the second sink stops, which waits for its connections
  });

  test('waiters are served in the order they asked', async () => {
    const { sink, pool } = await setup({ maxPerHop: 1 });
    const first = await pool.acquire(sink.hop);
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) =>
      pool.acquire(sink.hop).then((lease) => {
        order.push(n);
        lease.release(true);
      }),
    );
    first.release(true);
    await Promise.all(waiting);
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(sink.stats.opened, 1);
  });

  test('a connection released as not reusable is closed; the next sender gets a new one', async () => {
    const { sink, pool } = await setup();
    const lease = await pool.acquire(sink.hop);
    lease.release(false);
    await waitFor(() => sink.stats.open === 0, 5000, 'the connection to close');
    assert.equal(pool.size, 0);
    const next = await deliverOne(pool, sink.hop, 1);
    assert.equal(next.reused, false);
    assert.equal(sink.stats.opened, 2);
  });

  test('a waiter gets a fresh connection when the busy one is released as not reusable', async () => {
    const { sink, pool } = await setup({ maxPerHop: 1 });
    const busy = await pool.acquire(sink.hop);
    const waiter = pool.acquire(sink.hop);
    busy.release(false);
    const lease = await waiter;
    assert.notEqual(lease.connection, busy.connection);
    assert.equal(lease.reused, false);
    await send(lease.connection, 1);
    lease.release(true);
    assert.equal(sink.stats.opened, 2);
  });

  test('releasing twice has no further effect', async () => {
    const { sink, pool } = await setup();
    const lease = await pool.acquire(sink.hop);
    lease.release(true);
    lease.release(false);
    const again = await pool.acquire(sink.hop);
    assert.equal(again.connection, lease.connection, 'the second release did not close it');
    again.release(true);
  });

  test('an idle connection is closed after idleMs', async () => {
    const { sink, pool } = await setup({ idleMs: 50 });
    await deliverOne(pool, sink.hop, 1);
    await waitFor(() => sink.stats.open === 0 && pool.size === 0, 5000, 'the idle connection to close');
    await deliverOne(pool, sink.hop, 2);
    assert.equal(sink.stats.opened, 2);
  });

  test('a connection the peer closed while idle is not handed out again; a fresh one is opened', async () => {
    const { sink, pool } = await setup();
    const first = await deliverOne(pool, sink.hop, 1);
    sink.dropAll();
    await waitFor(() => sink.stats.open === 0, 5000, 'the peer to drop the idle connection');
    const second = await deliverOne(pool, sink.hop, 2);
    assert.notEqual(second.connection, first.connection);
    assert.equal(second.reused, false);
    assert.equal(sink.stats.opened, 2);
    assert.equal(sink.stats.messages, 2);
  });

  test('a hop that refuses connections rejects acquire() and leaves no slot taken', async () => {
    const port = await freePort();
    const pool = new ConnectionPool({ ...OPTIONS, maxPerHop: 1 });
    cleanups.push(() => pool.closeAll());
    const hop: Hop = { name: 'closed.test', address: '127.0.0.1', port };
    const attempts = await Promise.allSettled([pool.acquire(hop), pool.acquire(hop), pool.acquire(hop)]);
    assert.ok(
      attempts.every((a) => a.status === 'rejected'),
      'every waiter tried and failed itself',
    );
    assert.equal(pool.size, 0);
  });

  test('next hops with no connection and nobody waiting are forgotten; a hop in use is kept', async () => {
    const { sink, pool } = await setup();
    const first = await deliverOne(pool, sink.hop, 1);
    const port = await freePort();
    // Distinct names make distinct hops (the name is part of a hop's identity), all refusing.
    for (let i = 0; i < 1500; i++)
      await pool.acquire({ name: `gone${i}.test`, address: '127.0.0.1', port }).catch(() => {});
    assert.ok(pool.hops < 1100, `swept, not one entry per hop ever used: ${pool.hops}`);
    const again = await deliverOne(pool, sink.hop, 2);
    assert.equal(again.connection, first.connection, 'the idle connection of the live hop was kept');
    assert.equal(sink.stats.opened, 1);
  });

  test('closeAll closes idle connections and refuses waiters', async () => {
    const { sink, pool } = await setup({ maxPerHop: 1 });
    await deliverOne(pool, sink.hop, 1);
    const busy = await pool.acquire(sink.hop);
    const waiter = pool.acquire(sink.hop);
    pool.closeAll();
    await assert.rejects(waiter, /shutting down/);
    busy.release(false);
    await waitFor(() => sink.stats.open === 0, 5000, 'every connection to close');
    assert.equal(pool.size, 0);
  });
});
