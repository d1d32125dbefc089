/**
 * Specifies that outbound SMTP pipelines (RFC 2920) when the peer offers PIPELINING: the envelope
 * of a message (MAIL FROM, every RCPT TO, DATA) reaches a real smtp-server in one TCP segment
 * rather than one command per round trip, observed on the server's own socket; and that a peer
 * hiding PIPELINING gets one command at a time.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { afterEach, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { Deliverer } from '../../src/delivery/deliver.js';
import { ConnectionPool } from '../../src/delivery/pool.js';
import { staticResolver } from '../../src/delivery/resolver.js';
import { parseRelayHost, Router } from '../../src/delivery/route.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real smtp-server that also records every chunk read from each client socket. */
async function observedSink(hidePipelining: boolean) {
  const chunks: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hidePIPELINING: hidePipelining,
    logger: false,
    disableReverseLookup: true,
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => callback());
    },
  });
  server.server.on('connection', (socket: Socket) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk.toString('latin1')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { chunks, port };
}

async function deliverTo(port: number) {
  const pool = new ConnectionPool({
    maxPerHop: 1,
    maxMessages: 10,
    idleMs: 5000,
    connectMs: 5000,
    commandMs: 10_000,
    heloName: 'sluice.test',
    tls: 'none',
  });
  cleanups.push(() => pool.closeAll());
  const deliverer = new Deliverer(
    new Router(staticResolver({}), 25, parseRelayHost(`[127.0.0.1]:${port}`, 25)),
    pool,
  );
  const body = Buffer.from('From: s@origin.test\r\nSubject: pipelined\r\n\r\nbody\r\n');
  const results = await deliverer.attempt({
    domain: 'dest.test',
    mailFrom: 's@origin.test',
    rcpts: ['a@dest.test', 'b@dest.test', 'c@dest.test'],
    size: body.length,
    body: () => body,
  });
  assert.ok(
    results.every((r) => r.status === 'delivered'),
    JSON.stringify(results),
  );
}

test('with PIPELINING offered, MAIL, all RCPTs and DATA arrive in one segment', async () => {
  const { chunks, port } = await observedSink(false);
  await deliverTo(port);
  const envelope = chunks.find((chunk) => chunk.includes('MAIL FROM:'));
  assert.ok(envelope, chunks.join('|'));
  assert.match(
    envelope,
    /^MAIL FROM:<s@origin\.test>[^\r]*\r\nRCPT TO:<a@dest\.test>\r\nRCPT TO:<b@dest\.test>\r\nRCPT TO:<c@dest\.test>\r\nDATA\r\n$/,
  );
});

test('without PIPELINING, each command waits for its reply', async () => {
  const { chunks, port } = await observedSink(true);
  await deliverTo(port);
  const envelope = chunks.find((chunk) => chunk.includes('MAIL FROM:'));
  assert.ok(envelope);
  assert.doesNotMatch(envelope, /RCPT TO/);
  assert.equal(chunks.filter((chunk) => chunk.startsWith('RCPT TO:')).length, 3);
});
