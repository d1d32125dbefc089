/**
 * Specifies how `sluice milter` (the real binary, as a child process) survives bad input: length
 * 0, a length over 64 MB, an unknown command, garbage after OPTNEG, a packet cut short by the
 * peer, a peer that vanishes mid-body. Each closes that connection with a log line saying why;
 * the process stays up and the next connection negotiates normally.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeResponse, encodeCommand, type MilterResponse, PacketFramer } from '../../src/milter/wire.js';
import { waitFor } from '../harness/net.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';

let dir: string;
let port: number;
let milter: SluiceService;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-milter-server-'));
  milter = await startSluiceService('milter', { dataDir: dir });
  port = milter.port;
});

after(async () => {
  await milter?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const OPTNEG = encodeCommand({ kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff });

/** Sends bytes (then half-closes if asked) and collects responses until the server closes. */
function exchange(bytes: Buffer, endAfter = false): Promise<MilterResponse[]> {
  return new Promise((resolve, reject) => {
    const framer = new PacketFramer(1 << 20);
    const got: MilterResponse[] = [];
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      if (endAfter) socket.end();
    });
    socket.on('data', (chunk) => got.push(...framer.push(chunk).packets.map(decodeResponse)));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
  });
}

function lengthOnly(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length);
  return b;
}

describe('sluice milter on bad input', () => {
  const cases: Array<[string, Buffer, boolean, RegExp]> = [
    ['length 0', lengthOnly(0), false, /packet length 0/],
    ['length over 64 MB', lengthOnly(0x7fffffff), false, /packet length 2147483647 over the limit/],
    [
      'unknown command',
      Buffer.concat([OPTNEG, Buffer.from([0, 0, 0, 1, 0x5a])]),
      false,
      /unknown command byte 0x5a/,
    ],
    [
      'garbage after OPTNEG',
      Buffer.concat([OPTNEG, Buffer.from('GET / HTTP/1.0\r\n\r\n')]),
      false,
      /packet length \d+ over the limit/,
    ],
    [
      'a truncated packet',
      Buffer.concat([OPTNEG, encodeCommand({ kind: 'helo', helo: 'client' }).subarray(0, 7)]),
      true,
      /closed the connection mid-packet/,
    ],
  ];
  for (const [name, bytes, endAfter, logged] of cases) {
    test(`${name}: the connection is closed and the log says why`, async () => {
      await exchange(bytes, endAfter);
      await waitFor(() => logged.test(milter.output()), 10_000, `log line ${logged}`);
      assert.equal(milter.child.exitCode, null, 'still running');
    });
  }

  test('a peer that vanishes mid-body leaves the process serving the next connection', async () => {
    const connect = encodeCommand({
      kind: 'connect',
      hostname: 'h',
      family: 'inet',
      port: 1,
      address: '127.0.0.1',
    });
    const mail = encodeCommand({ kind: 'mail', args: ['<a@example.com>'] });
    const body = encodeCommand({ kind: 'body', chunk: Buffer.alloc(1000, 0x61) });
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(Buffer.concat([OPTNEG, connect, mail, body.subarray(0, 500)]));
        setImmediate(() => socket.destroy());
        resolve();
      });
    });
    const replies = await exchange(Buffer.concat([OPTNEG, encodeCommand({ kind: 'quit' })]));
    assert.equal(replies[0]?.kind, 'optneg');
    assert.equal(milter.child.exitCode, null);
  });
});
