/**
 * Specifies one delivery attempt (Deliverer) against the recording sink on 127.0.0.1: a result
 * per recipient that never throws: delivered with the peer's 250, bounce for 5xx and defer for 4xx
 * per recipient in one transaction, a refusal at DATA applying to every recipient, routing
 * failures (null MX, DNS trouble) answered without connecting, an unreachable hop deferred with
 * 4.4.1; and a pooled connection stays usable after the peer refused every recipient of a message
 * (the transaction is reset, so the next message is not met with "503 nested MAIL command").
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import { type Attempt, Deliverer } from '../../src/delivery/deliver.js';
import { ConnectionPool } from '../../src/delivery/pool.js';
import { type DnsResolver, staticResolver } from '../../src/delivery/resolver.js';
import { parseRelayHost, Router } from '../../src/delivery/route.js';
import { freePort } from '../harness/net.js';
import { type Sink, type SinkOptions, startSink } from '../harness/sink.js';

const BODY = Buffer.from('From: s@origin.test\r\nSubject: attempt\r\n\r\nhello\r\n');

function attempt(rcpts: string[], body: () => Buffer | Readable = () => BODY): Attempt {
  return { domain: 'dest.test', mailFrom: 's@origin.test', rcpts, size: BODY.length, body };
}

describe('Deliverer', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(sinkOptions: SinkOptions = {}, maxPerHop = 4) {
    const sink: Sink = await startSink(sinkOptions);
    cleanups.push(() => sink.stop());
    const pool = new ConnectionPool({
      maxPerHop,
      maxMessages: 100,
      idleMs: 5000,
      connectMs: 5000,
      commandMs: 10_000,
      heloName: 'sluice.test',
      tls: 'none',
    });
    cleanups.push(() => pool.closeAll());
    const resolver = staticResolver({
      mx: { 'dest.test': [{ exchange: 'mx.dest.test', priority: 10 }] },
      a: { 'mx.dest.test': ['127.0.0.1'] },
    });
    const deliverer = new Deliverer(new Router(resolver, sink.port, null), pool);
    return { sink, pool, deliverer };
  }

  test('every recipient accepted: delivered with the 250 reply and the MX name', async () => {
    const { sink, deliverer } = await setup();
    const results = await deliverer.attempt(attempt(['a@dest.test', 'b@dest.test']));
    assert.deepEqual(
      results.map((r) => [r.rcpt, r.status, r.code, r.mxHost]),
      [
        ['a@dest.test', 'delivered', 250, 'mx.dest.test'],
        ['b@dest.test', 'delivered', 250, 'mx.dest.test'],
      ],
    );
    assert.ok(results.every((r) => r.text.startsWith('250')));
    assert.equal(sink.messages.length, 1);
    assert.ok(sink.messages[0]!.data.equals(BODY));
  });

  test('a streamed body is sent as well as a buffered one', async () => {
    const { sink, deliverer } = await setup();
    const [result] = await deliverer.attempt(attempt(['a@dest.test'], () => Readable.from([BODY])));
    assert.equal(result!.status, 'delivered');
    assert.ok(sink.messages[0]!.data.equals(BODY));
  });

  test('per-recipient replies in one transaction: 5xx bounce, 4xx defer, the rest delivered', async () => {
    const { sink, deliverer } = await setup({
      replyFor: (rcpt) =>
        rcpt.startsWith('gone')
          ? [550, '5.1.1 no such user']
          : rcpt.startsWith('full')
            ? [452, '4.2.2 mailbox full']
            : undefined,
    });
    const results = await deliverer.attempt(attempt(['gone@dest.test', 'full@dest.test', 'ok@dest.test']));
    assert.deepEqual(
      results.map((r) => [r.rcpt, r.status, r.code, r.enhanced]),
      [
        ['gone@dest.test', 'bounce', 550, '5.1.1'],
        ['full@dest.test', 'defer', 452, '4.2.2'],
        ['ok@dest.test', 'delivered', 250, undefined],
      ],
    );
    assert.match(results[0]!.text, /^550 5\.1\.1 no such user/);
    assert.deepEqual(
      sink.messages.map((m) => m.rcptTo),
      [['ok@dest.test']],
    );
  });

  test('every recipient refused: a result for each, nothing sent', async () => {
    const { sink, deliverer } = await setup({ replyFor: () => [550, '5.1.1 no such user'] });
    const results = await deliverer.attempt(attempt(['x@dest.test', 'y@dest.test']));
    assert.deepEqual(
      results.map((r) => [r.rcpt, r.status, r.code]),
      [
        ['x@dest.test', 'bounce', 550],
        ['y@dest.test', 'bounce', 550],
      ],
    );
    assert.equal(sink.messages.length, 0);
  });

  test('after every recipient of one message was refused, the same connection delivers the next message', async () => {
    // One connection only, so the second attempt must reuse the first one's connection.
    const { sink, pool, deliverer } = await setup(
      { replyFor: (rcpt) => (rcpt.startsWith('bad') ? [550, '5.1.1 no such user'] : undefined) },
      1,
    );
    const refused = await deliverer.attempt(attempt(['bad1@dest.test', 'bad2@dest.test']));
    assert.ok(refused.every((r) => r.status === 'bounce'));
    const [next] = await deliverer.attempt(attempt(['good@dest.test']));
    assert.equal(next!.status, 'delivered', `expected delivery, got ${next!.text}`);
    assert.deepEqual(
      sink.messages.map((m) => m.rcptTo),
      [['good@dest.test']],
    );
    assert.equal(pool.size, 1, 'the connection was kept, not replaced');
  });

  test('a temporary refusal of every recipient also leaves the connection usable', async () => {
    const { sink, deliverer } = await setup(
      { replyFor: (rcpt) => (rcpt.startsWith('later') ? [451, '4.3.0 try later'] : undefined) },
      1,
    );
    const [deferred] = await deliverer.attempt(attempt(['later@dest.test']));
    assert.equal(deferred!.status, 'defer');
    const [next] = await deliverer.attempt(attempt(['now@dest.test']));
    assert.equal(next!.status, 'delivered', `expected delivery, got ${next!.text}`);
    assert.equal(sink.messages.length, 1);
  });

  test('a 5xx at the end of DATA bounces every recipient; a 4xx defers them; the connection stays usable', async () => {
    let dataReply: [number, string] | undefined = [554, '5.7.1 content refused'];
    const { sink, deliverer } = await setup({ dataReply: () => dataReply }, 1);
    const bounced = await deliverer.attempt(attempt(['a@dest.test', 'b@dest.test']));
    assert.deepEqual(
      bounced.map((r) => [r.status, r.code, r.enhanced]),
      [
        ['bounce', 554, '5.7.1'],
        ['bounce', 554, '5.7.1'],
      ],
    );
    dataReply = [451, '4.3.0 queue full'];
    const deferred = await deliverer.attempt(attempt(['a@dest.test']));
    assert.deepEqual(
      deferred.map((r) => [r.status, r.code]),
      [['defer', 451]],
    );
    dataReply = undefined;
    const [delivered] = await deliverer.attempt(attempt(['a@dest.test']));
    assert.equal(delivered!.status, 'delivered');
    assert.equal(sink.messages.length, 1);
  });

  test('a null MX bounces every recipient with 5.1.10 without connecting anywhere', async () => {
    const pool = new ConnectionPool({
      maxPerHop: 1,
      maxMessages: 1,
      idleMs: 1000,
      connectMs: 1000,
      commandMs: 1000,
      heloName: 'sluice.test',
      tls: 'none',
    });
    const resolver = staticResolver({ mx: { 'dest.test': [{ exchange: '.', priority: 0 }] } });
    const results = await new Deliverer(new Router(resolver, 25, null), pool).attempt(
      attempt(['a@dest.test']),
    );
    assert.deepEqual(
      results.map((r) => [r.status, r.code, r.enhanced, r.mxHost]),
      [['bounce', 550, '5.1.10', undefined]],
    );
    assert.equal(pool.size, 0);
  });

  test('DNS trouble defers every recipient with 4.4.3', async () => {
    const failing: DnsResolver = {
      resolveMx: () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })),
      resolve4: () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })),
      resolve6: () => Promise.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })),
    };
    const pool = new ConnectionPool({
      maxPerHop: 1,
      maxMessages: 1,
      idleMs: 1000,
      connectMs: 1000,
      commandMs: 1000,
      heloName: 'sluice.test',
      tls: 'none',
    });
    const results = await new Deliverer(new Router(failing, 25, null), pool).attempt(
      attempt(['a@dest.test', 'b@dest.test']),
    );
    assert.deepEqual(
      results.map((r) => [r.rcpt, r.status, r.code, r.enhanced]),
      [
        ['a@dest.test', 'defer', 451, '4.4.3'],
        ['b@dest.test', 'defer', 451, '4.4.3'],
      ],
    );
  });

  test('a next hop that refuses connections defers with 4.4.1 naming the hop', async () => {
    const port = await freePort();
    const pool = new ConnectionPool({
      maxPerHop: 1,
      maxMessages: 1,
      idleMs: 1000,
      connectMs: 2000,
      commandMs: 2000,
      heloName: 'sluice.test',
      tls: 'none',
    });
    cleanups.push(() => pool.closeAll());
    const router = new Router(staticResolver({}), 25, parseRelayHost(`[127.0.0.1]:${port}`, 25));
    const [result] = await new Deliverer(router, pool).attempt(attempt(['a@dest.test']));
    assert.equal(result!.status, 'defer');
    assert.equal(result!.code, 0);
    assert.equal(result!.enhanced, '4.4.1');
    assert.match(result!.text, new RegExp(`127\\.0\\.0\\.1.*${port}`));
  });
});
