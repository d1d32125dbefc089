/**
 * Specifies the HTTP listener's limits against the real `sluice serve` binary (issue 14, item 2),
 * with short limits so each attack ends within the test: a body trickled one byte at a time is
 * cut off at http.request_timeout with 408 (it would otherwise last forever), headers trickled
 * or never sent end at http.headers_timeout, a body that stops arriving ends at
 * http.body_timeout, an idle keep-alive connection is closed at http.keep_alive_timeout; a client
 * address past http.max_connections_per_client and anyone past http.max_connections get 503 in
 * SparkPost's shape, idle keep-alive connections make room at the cap, and
 * http.connection_limit_exceptions are not counted per client. The server answers afterwards.
 * Every wait is bounded; nothing asserts how long anything took.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createKey } from '../harness/clients.js';
import { waitFor, waitForPort } from '../harness/net.js';
import { type RawConnection, rawConnect, statusOf } from '../harness/raw-http.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const GET_HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: sluice\r\n\r\n';

/** Resolves when the connection closes; fails the test if that takes more than `ms`. */
const closesWithin = (connection: RawConnection, ms: number, what: string) =>
  Promise.race([
    connection.closed,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms)),
  ]);

async function healthzOver(connection: RawConnection): Promise<number | null> {
  const before = connection.received().length;
  connection.socket.write(GET_HEALTHZ);
  await waitFor(
    () => /\r\n\r\n\{"status":"ok"\}/.test(connection.received().slice(before)),
    10_000,
    '/healthz',
  );
  return statusOf({ ...connection, received: () => connection.received().slice(before) });
}

describe('timeouts', () => {
  let sluice: SluiceProcess;
  let key: string;
  before(async () => {
    sluice = await startSluice({
      overrides: {
        'delivery.relayhost': '[127.0.0.1]:9',
        'http.headers_timeout': '1s',
        'http.request_timeout': '3s',
        'http.body_timeout': '1s',
        'http.keep_alive_timeout': '1s',
      },
    });
    key = (await createKey(sluice.dataDir, { grants: ['transmissions/modify'] })).key;
    await waitForPort(sluice.httpPort);
  });
  after(async () => {
    await sluice?.stop();
  });

  test('a body trickled one byte at a time is cut off at http.request_timeout with 408', async () => {
    const connection = await rawConnect(sluice.httpPort);
    connection.socket.write(
      `POST /api/v1/transmissions HTTP/1.1\r\nHost: sluice\r\nAuthorization: ${key}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
    );
    let sent = 0;
    // Faster than http.body_timeout, so only the whole-request limit can end it.
    const trickle = setInterval(() => {
      if (!connection.socket.destroyed) connection.socket.write(' ');
      sent++;
    }, 200);
    try {
      await closesWithin(connection, 20_000, 'trickled request');
    } finally {
      clearInterval(trickle);
    }
    assert.ok(sent < 1000, 'cut off before the body was complete');
    assert.equal(statusOf(connection), 408, connection.received());
    assert.match(connection.received(), /\{"errors":\[\{"message":"request timeout"\}\]\}/);
    // The child's log line may reach us after the connection's close does.
    await waitFor(
      () => /"code":"ERR_HTTP_REQUEST_TIMEOUT".*request timeout; connection closed/.test(sluice.output()),
      5_000,
      'the request timeout logged',
    );
  });

  test('headers trickled, or never sent, end at http.headers_timeout', async () => {
    const trickled = await rawConnect(sluice.httpPort);
    trickled.socket.write('GET /healthz HTTP/1.1\r\nHost: sluice\r\n');
    const trickle = setInterval(() => {
      if (!trickled.socket.destroyed) trickled.socket.write('X');
    }, 200);
    const silent = await rawConnect(sluice.httpPort);
    try {
      await closesWithin(trickled, 20_000, 'trickled headers');
      await closesWithin(silent, 20_000, 'silent connection');
    } finally {
      clearInterval(trickle);
    }
    assert.equal(statusOf(trickled), 408);
  });

  test('a body that stops arriving ends at http.body_timeout with 408', async () => {
    const connection = await rawConnect(sluice.httpPort);
    connection.socket.write(
      `POST /api/v1/transmissions HTTP/1.1\r\nHost: sluice\r\nAuthorization: ${key}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n${' '.repeat(50_000)}`,
    );
    await closesWithin(connection, 20_000, 'stalled body');
    assert.equal(statusOf(connection), 408);
    assert.match(connection.received(), /request body timeout/);
    await waitFor(
      () => /stalled past http\.body_timeout/.test(sluice.output()),
      5_000,
      'the body timeout logged',
    );
  });

  test('an idle keep-alive connection is closed at http.keep_alive_timeout; the server still answers', async () => {
    const connection = await rawConnect(sluice.httpPort);
    assert.equal(await healthzOver(connection), 200);
    assert.match(connection.received(), /Keep-Alive: timeout=1/);
    await closesWithin(connection, 20_000, 'idle keep-alive connection');
    const fresh = await rawConnect(sluice.httpPort);
    assert.equal(await healthzOver(fresh), 200);
    fresh.socket.destroy();
  });
});

describe('connection caps', () => {
  let sluice: SluiceProcess;
  const open: RawConnection[] = [];
  const connect = async (address: string) => {
    const connection = await rawConnect(sluice.httpPort, address);
    open.push(connection);
    return connection;
  };
  /** A connection the server refused: 503 in SparkPost's shape, then closed. */
  const assertRefused = async (connection: RawConnection, why: RegExp) => {
    await closesWithin(connection, 10_000, 'refused connection');
    assert.equal(statusOf(connection), 503);
    assert.match(connection.received(), why);
  };
  /** Whether a new connection from `address` is served (200) rather than refused (503). */
  const admitted = async (address: string) => {
    const probe = await connect(address);
    probe.socket.write(GET_HEALTHZ);
    await waitFor(() => probe.head() || probe.socket.destroyed, 10_000, 'an answer');
    probe.socket.destroy();
    await probe.closed;
    return statusOf(probe) === 200;
  };
  /** Waits until the server has counted every connection made so far (each answers a request). */
  const settled = async (connections: RawConnection[]) => {
    for (const connection of connections) assert.equal(await healthzOver(connection), 200);
  };

  before(async () => {
    sluice = await startSluice({
      overrides: {
        'delivery.relayhost': '[127.0.0.1]:9',
        'http.max_connections': 12,
        'http.max_connections_per_client': 4,
        'http.connection_limit_exceptions': '["127.0.0.9/32"]',
        // Long, so idle connections stay idle while the test counts them.
        'http.keep_alive_timeout': '60s',
      },
    });
    await waitForPort(sluice.httpPort);
  });
  after(async () => {
    for (const connection of open) connection.socket.destroy();
    await sluice?.stop();
  });

  test('one address past http.max_connections_per_client gets 503; others and exempt ones do not', async () => {
    const four = await Promise.all([1, 2, 3, 4].map(() => connect('127.0.0.2')));
    await settled(four);
    await assertRefused(await connect('127.0.0.2'), /too many connections from your address/);
    const other = await connect('127.0.0.3');
    assert.equal(await healthzOver(other), 200);
    const exempt = await Promise.all([1, 2, 3, 4, 5, 6].map(() => connect('127.0.0.9')));
    await settled(exempt);
    assert.match(sluice.output(), /too many from this client/);
    for (const connection of [...four, other, ...exempt]) connection.socket.destroy();
    await Promise.all([...four, other, ...exempt].map((connection) => connection.closed));
    // The server notices the closes on its own time; then the address is served again.
    await waitFor(() => admitted('127.0.0.2'), 10_000, 'the address admitted again');
  });

  test('past http.max_connections: idle keep-alive connections make room, busy ones do not', async () => {
    // Twelve connections, each in the middle of a request (headers not finished): not idle.
    const busy: RawConnection[] = [];
    for (const address of ['127.0.0.4', '127.0.0.5', '127.0.0.6'])
      for (let i = 0; i < 4; i++) {
        const connection = await connect(address);
        connection.socket.write('GET /healthz HTTP/1.1\r\n');
        busy.push(connection);
      }
    await waitFor(
      async () => {
        const probe = await connect('127.0.0.7');
        await closesWithin(probe, 10_000, 'probe');
        return statusOf(probe) === 503;
      },
      10_000,
      'the cap reached',
    );
    assert.match(open[open.length - 1]!.received(), /"too many connections"/);
    for (const connection of busy) connection.socket.destroy();
    await Promise.all(busy.map((connection) => connection.closed));
    // The server notices the closes on its own time.
    await waitFor(() => admitted('127.0.0.7'), 10_000, 'room again');

    // Twelve keep-alive connections that finished a request: idle, so the next one gets a slot.
    const idle: RawConnection[] = [];
    for (const address of ['127.0.0.4', '127.0.0.5', '127.0.0.6'])
      for (let i = 0; i < 4; i++) {
        const connection = await connect(address);
        assert.equal(await healthzOver(connection), 200);
        idle.push(connection);
      }
    const newcomer = await connect('127.0.0.7');
    assert.equal(await healthzOver(newcomer), 200, 'admitted at the cap');
    await waitFor(() => idle.some((connection) => connection.socket.destroyed), 10_000, 'idle ones closed');
  });
});
