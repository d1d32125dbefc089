/**
 * Specifies how `sluice milter` (the real binary) keeps one peer from exhausting it: a connection
 * with no message open that stays silent for milter.idle_timeout is closed with a log line, while
 * one with a message open is given milter.message_idle_timeout (the MTA may be receiving a large
 * message meanwhile) and finishes its message; past milter.max_connections_per_peer the next
 * connection from that address is closed at once with a log line, while another address still
 * negotiates. Timeouts are shortened here; the defaults are 5 min and 1 h.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  decodeResponse,
  encodeCommand,
  type MilterCommand,
  type MilterResponse,
  PacketFramer,
} from '../../src/milter/wire.js';
import { waitFor } from '../harness/net.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';

const IDLE_MS = 2_000;

let dir: string;
let timed: SluiceService;
let capped: SluiceService;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-milter-limits-'));
  [timed, capped] = await Promise.all([
    startSluiceService('milter', {
      dataDir: dir,
      overrides: { 'milter.idle_timeout': `${IDLE_MS}ms`, 'milter.message_idle_timeout': '1h' },
    }),
    startSluiceService('milter', {
      dataDir: dir,
      overrides: { 'milter.max_connections_per_peer': 2, 'milter.max_connections': 10 },
    }),
  ]);
});

after(async () => {
  await Promise.all([timed?.stop(), capped?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One MTA connection from a chosen loopback address. */
class Mta {
  private readonly framer = new PacketFramer(1 << 20);
  readonly got: MilterResponse[] = [];
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) =>
      this.got.push(...this.framer.push(chunk).packets.map(decodeResponse)),
    );
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  static open(port: number, localAddress: string): Promise<Mta> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(new Mta(socket)));
      socket.once('error', reject);
    });
  }

  send(...commands: MilterCommand[]): void {
    for (const command of commands) this.socket.write(encodeCommand(command));
  }

  /** Resolves with the responses once `count` have arrived, or null if the connection closed first. */
  async responses(count: number): Promise<MilterResponse[] | null> {
    const outcome = await waitFor(
      () => (this.got.length >= count ? 'got' : this.isClosed ? 'closed' : null),
      15_000,
      `${count} responses`,
    );
    return outcome === 'got' ? this.got : null;
  }

  async negotiate(): Promise<boolean> {
    this.send({ kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff });
    const got = await this.responses(1);
    return got?.[0]?.kind === 'optneg';
  }

  close(): void {
    this.socket.destroy();
  }
}

test('idle with no message open: closed after idle_timeout; with a message open the message goes on', async () => {
  const between = await Mta.open(timed.port, '127.0.0.1');
  const inMessage = await Mta.open(timed.port, '127.0.0.1');
  try {
    assert.ok(await between.negotiate());
    assert.ok(await inMessage.negotiate());
    inMessage.send(
      { kind: 'connect', hostname: 'app.test', family: 'inet', port: 40000, address: '127.0.0.1' },
      { kind: 'mail', args: ['<app@example.com>'] },
      { kind: 'rcpt', args: ['<someone@example.net>'] },
    );
    assert.deepEqual((await inMessage.responses(2))?.[1], { kind: 'continue' }, 'MAIL answered');
    await between.closed;
    await waitFor(
      () => /"idle_ms":2000,"in_message":false,"msg":"milter connection idle: closing"/.test(timed.output()),
      5_000,
      'the idle close logged',
    );
    // Silent past idle_timeout too, but a message is open: the MTA may be receiving it meanwhile.
    await sleep(IDLE_MS * 2);
    assert.equal(inMessage.isClosed, false, 'the connection with a message open is kept');
    inMessage.send(
      { kind: 'header', name: 'Subject', value: ' slow' },
      { kind: 'eoh' },
      { kind: 'eom', chunk: Buffer.alloc(0) },
    );
    // The end of the message: its id and the id's signature added, then continue.
    const replies = await inMessage.responses(5);
    assert.deepEqual(
      replies?.slice(2).map((r) => r.kind),
      ['addheader', 'addheader', 'continue'],
      JSON.stringify(replies),
    );
    // Its message done, it is a connection with no message open again.
    await inMessage.closed;
  } finally {
    between.close();
    inMessage.close();
  }
  assert.equal(timed.child.exitCode, null, 'still running');
});

test('the connection over max_connections_per_peer is closed at once; another peer still negotiates', async () => {
  const held = [await Mta.open(capped.port, '127.0.0.2'), await Mta.open(capped.port, '127.0.0.2')];
  try {
    for (const mta of held) assert.ok(await mta.negotiate());
    const third = await Mta.open(capped.port, '127.0.0.2');
    assert.equal(await third.negotiate(), false, 'no negotiation for the third connection');
    await third.closed;
    await waitFor(
      () =>
        /"peer":"127\.0\.0\.2","connections":2,"limit":2,"msg":"too many connections from one peer: refused"/.test(
          capped.output(),
        ),
      5_000,
      'the refusal logged with the limit',
    );
    const other = await Mta.open(capped.port, '127.0.0.3');
    assert.ok(await other.negotiate(), 'another address is served');
    other.close();
    held.pop()!.close();
    const again = await waitFor(
      async () => {
        const mta = await Mta.open(capped.port, '127.0.0.2');
        if (await mta.negotiate()) return mta;
        mta.close();
        return null;
      },
      10_000,
      'a freed slot',
    );
    held.push(again!);
  } finally {
    for (const mta of held) mta.close();
  }
});
