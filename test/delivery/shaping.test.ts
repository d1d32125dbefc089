/**
 * Specifies traffic shaping and source-address pools. ShapingPolicy: defaults, narrowed by an
 * override for the recipient domain (`domain` or `.parent`) or for one of the MX hosts. Shaper:
 * no more deliveries at once than max_connections, no more starts per minute than
 * max_messages_per_minute, waiters served in order. Against a real sink: domains hosted on the
 * same MX share one budget (the sink never sees more connections than it allows), a connection
 * carries no more than max_messages_per_connection, and ip_pool picks the local source address
 * (127.0.0.2 / 127.0.0.3, as seen by the sink).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { type Attempt, Deliverer } from '../../src/delivery/deliver.js';
import { IpPools } from '../../src/delivery/ip-pools.js';
import { ConnectionPool } from '../../src/delivery/pool.js';
import { staticResolver } from '../../src/delivery/resolver.js';
import { Router } from '../../src/delivery/route.js';
import { type Limits, type Override, Shaper, ShapingPolicy } from '../../src/delivery/shaping.js';
import { type Sink, startSink } from '../harness/sink.js';

const DEFAULTS: Limits = { maxConnections: 5, maxMessagesPerConnection: 100, maxPerMinute: null };

/** Resolves on the next turn of the event loop: whatever could have happened by then has. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ShapingPolicy', () => {
  const policy = new ShapingPolicy(DEFAULTS, {
    'slow.test': { max_connections: 1 },
    '.corp.test': { max_messages_per_minute: 10, tls: 'require' },
    'mx.provider.test': { max_connections: 2, max_messages_per_connection: 7 },
  });
  const cases: Array<[string, () => Limits, Partial<Limits>]> = [
    ['a domain without override gets the defaults', () => policy.forDomain('plain.test'), DEFAULTS],
    ['an exact domain override', () => policy.forDomain('Slow.TEST'), { ...DEFAULTS, maxConnections: 1 }],
    [
      '".corp.test" applies to subdomains',
      () => policy.forDomain('eu.corp.test'),
      { ...DEFAULTS, maxPerMinute: 10, tls: 'require' },
    ],
    ['".corp.test" does not apply to corp.test itself', () => policy.forDomain('corp.test'), DEFAULTS],
    [
      'a host set with an overridden MX host',
      () => policy.forHosts(['mx2.other.test', 'mx.provider.test']),
      { ...DEFAULTS, maxConnections: 2, maxMessagesPerConnection: 7 },
    ],
    ['a host set without', () => policy.forHosts(['mx.other.test']), DEFAULTS],
  ];
  for (const [name, actual, expected] of cases) {
    test(name, () => assert.deepEqual({ ...actual() }, { ...expected }));
  }
});

describe('Shaper', () => {
  const limits = (o: Partial<Limits>): Limits => ({ ...DEFAULTS, ...o });

  test('max_connections: the next delivery waits for a release, in order', async () => {
    const shaper = new Shaper();
    const budget = [{ key: 'domain:x.test', limits: limits({ maxConnections: 2 }) }];
    const order: number[] = [];
    const permits = [1, 2, 3, 4].map((n) =>
      shaper.acquire(budget).then((permit) => {
        order.push(n);
        return permit;
      }),
    );
    await settle();
    assert.deepEqual(order, [1, 2]);
    assert.equal(shaper.inUse('domain:x.test'), 2);
    (await permits[0]!).release();
    await settle();
    assert.deepEqual(order, [1, 2, 3]);
    (await permits[1]!).release();
    (await permits[1]!).release(); // a second release of the same permit changes nothing
    await settle();
    assert.deepEqual(order, [1, 2, 3, 4]);
    assert.equal(shaper.inUse('domain:x.test'), 2);
  });

  test('max_messages_per_minute: starts beyond the limit wait for the window, even with connections free', async () => {
    let now = 1_000_000;
    const shaper = new Shaper(() => now);
    const budget = [{ key: 'domain:y.test', limits: limits({ maxPerMinute: 2 }) }];
    let started = 0;
    const permits = [1, 2, 3].map(() =>
      shaper.acquire(budget).then((permit) => {
        started++;
        permit.release();
      }),
    );
    await settle();
    assert.equal(started, 2, 'two starts in the first minute');
    now += 60_000;
    // The shaper's own timer runs on the real clock; a new acquire re-checks the (fake) window now.
    const fourth = shaper.acquire(budget);
    await Promise.all(permits);
    (await fourth).release();
    assert.equal(started, 3);
  });

  test('budgets of destinations with nothing in progress are forgotten; busy and rate-limited ones stay', async () => {
    const shaper = new Shaper(() => 1_000_000);
    const held = await shaper.acquire([{ key: 'domain:busy.test', limits: limits({ maxConnections: 1 }) }]);
    const rated = [{ key: 'domain:rated.test', limits: limits({ maxPerMinute: 1 }) }];
    (await shaper.acquire(rated)).release();
    for (let i = 0; i < 10_000; i++)
      (await shaper.acquire([{ key: `domain:d${i}.test`, limits: limits({}) }])).release();
    assert.ok(shaper.size < 2100, `bounded by its sweeps, not by every destination seen: ${shaper.size}`);
    // Still remembered: the delivery in progress holds its budget's only connection...
    let second = false;
    const waiting = shaper
      .acquire([{ key: 'domain:busy.test', limits: limits({ maxConnections: 1 }) }])
      .then((p) => {
        second = true;
        p.release();
      });
    await settle();
    assert.equal(second, false, 'the busy budget was kept: its limit still holds');
    held.release();
    await waiting;
    // ...and the rate-limited budget still counts its start inside the window.
    let again = false;
    const later = shaper.acquire(rated).then((p) => {
      again = true;
      p.release();
    });
    await settle();
    assert.equal(again, false, 'the second start of the minute waits');
    shaper.close();
    await assert.rejects(later, /shutting down/);
  });

  test('close(): waiting deliveries give up with a reason, and new ones are refused', async () => {
    const shaper = new Shaper();
    const budget = [{ key: 'domain:z.test', limits: limits({ maxConnections: 1 }) }];
    const held = await shaper.acquire(budget);
    const waiting = shaper.acquire(budget);
    shaper.close();
    await assert.rejects(waiting, /shutting down/);
    await assert.rejects(shaper.acquire(budget), /shutting down/);
    held.release();
    assert.equal(shaper.inUse('domain:z.test'), 0);
  });

  test('budgets are taken together: a host set limit holds back a domain that has room', async () => {
    const shaper = new Shaper();
    const hosts = { key: 'hosts:mx.shared.test:25', limits: limits({ maxConnections: 1 }) };
    const first = await shaper.acquire([{ key: 'domain:a.test', limits: DEFAULTS }, hosts]);
    let second = false;
    const pending = shaper.acquire([{ key: 'domain:b.test', limits: DEFAULTS }, hosts]).then((p) => {
      second = true;
      return p;
    });
    await settle();
    assert.equal(second, false);
    first.release();
    (await pending).release();
    assert.equal(second, true);
  });
});

describe('shaping and ip_pool against a real sink', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(overrides: Record<string, Override>, pools: Record<string, string[]> = {}) {
    const sink: Sink = await startSink();
    cleanups.push(() => sink.stop());
    const pool = new ConnectionPool({
      maxPerHop: 10,
      maxMessages: 100,
      idleMs: 5000,
      connectMs: 5000,
      commandMs: 10_000,
      heloName: 'sluice.test',
      tls: 'none',
    });
    cleanups.push(() => pool.closeAll());
    const provider = [{ exchange: 'mx.provider.test', priority: 10 }];
    const resolver = staticResolver({
      mx: { 'a.test': provider, 'b.test': provider, 'c.test': provider },
      a: { 'mx.provider.test': ['127.0.0.1'] },
    });
    const deliverer = new Deliverer(new Router(resolver, sink.port, null), pool, {
      policy: new ShapingPolicy(DEFAULTS, overrides),
      shaper: new Shaper(),
      ipPools: new IpPools(pools),
    });
    return { sink, deliverer };
  }

  const attempt = (domain: string, n: number, ipPool?: string): Attempt => {
    const body = Buffer.from(`From: s@origin.test\r\nSubject: ${n}\r\n\r\nbody ${n}\r\n`);
    return {
      domain,
      mailFrom: 's@origin.test',
      rcpts: [`u${n}@${domain}`],
      size: body.length,
      body: () => body,
      ipPool,
    };
  };

  test('without a host-set limit, parallel deliveries open parallel connections', async () => {
    const { sink, deliverer } = await setup({});
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((n) => deliverer.attempt(attempt('a.test', n))));
    assert.ok(results.every((r) => r[0]?.status === 'delivered'));
    assert.ok(sink.connections.peak > 1, `peak ${sink.connections.peak}`);
  });

  test('three domains on one MX host share its budget of one connection: one connection carries all', async () => {
    const { sink, deliverer } = await setup({ 'mx.provider.test': { max_connections: 1 } });
    const domains = ['a.test', 'b.test', 'c.test'];
    const results = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => deliverer.attempt(attempt(domains[n % 3]!, n))),
    );
    assert.ok(
      results.every((r) => r[0]?.status === 'delivered'),
      JSON.stringify(results),
    );
    assert.equal(sink.messages.length, 9);
    assert.equal(sink.connections.peak, 1);
    assert.equal(sink.connections.opened, 1, 'the connection was reused across domains');
  });

  test('max_messages_per_connection: 2 per connection means 3 connections for 6 messages', async () => {
    const { sink, deliverer } = await setup({
      'a.test': { max_connections: 1, max_messages_per_connection: 2 },
    });
    for (let n = 0; n < 6; n++)
      assert.equal((await deliverer.attempt(attempt('a.test', n)))[0]?.status, 'delivered');
    assert.equal(sink.messages.length, 6);
    assert.equal(sink.connections.opened, 3);
  });

  test('ip_pool picks the source address in turn; no pool (or an unknown one) uses "default"', async () => {
    const { sink, deliverer } = await setup({}, { bulk: ['127.0.0.2', '127.0.0.3'], default: ['127.0.0.4'] });
    for (let n = 0; n < 4; n++) await deliverer.attempt(attempt('a.test', n, 'bulk'));
    await deliverer.attempt(attempt('a.test', 4));
    await deliverer.attempt(attempt('a.test', 5, 'no-such-pool'));
    assert.deepEqual(
      sink.messages.map((m) => m.remoteAddress),
      ['127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.4'],
    );
    assert.equal(sink.connections.opened, 3, 'one reused connection per source address');
  });
});
