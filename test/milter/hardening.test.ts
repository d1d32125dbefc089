/**
 * Specifies what the milter does with messages built to hurt it, over a real socket to the real
 * milter service (memory-child.ts runs startMilterService, as `sluice milter` does, and can be
 * asked for its memory after a full GC):
 * - 300 header packets of 1 MB, all X-MSYS-API: refused as soon as the header section passes
 *   milter.max_header_size (logged then; 552 5.3.4 at end of message, since headers are negotiated
 *   without a reply), nothing of it kept: live memory stays near its level before, during the
 *   message and after the connection closes; RSS comes back near its level before;
 * - a second X-MSYS-API header: 550 5.6.0 naming the duplicate, decided when it arrives;
 * - X-MSYS-API nested 5,000 levels deep in metadata: 550 5.6.0 naming the field (was a 451
 *   4.3.0 from a RangeError, retried for ever), with the reason in the log.
 * The process stays up throughout and serves the next message.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, test } from 'node:test';
import {
  decodeResponse,
  encodeCommand,
  type MilterCommand,
  type MilterResponse,
  PacketFramer,
} from '../../src/milter/wire.js';
import { waitFor } from '../harness/net.js';

const MB = 1024 * 1024;
const CHILD = path.join(import.meta.dirname, 'memory-child.js');

let dir: string;
let child: ChildProcess;
let port: number;
let log = '';
let nextLine: () => Promise<string>;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-milter-hardening-'));
  child = spawn(process.execPath, ['--expose-gc', CHILD, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr!.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  nextLine = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the milter child exited:\n${log}`);
    return value as string;
  };
  port = (JSON.parse(await nextLine()) as { port: number }).port;
});

after(async () => {
  child?.stdin?.end();
  if (child && child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function measure(): Promise<NodeJS.MemoryUsage> {
  child.stdin!.write('measure\n');
  return JSON.parse(await nextLine()) as NodeJS.MemoryUsage;
}

/** Live memory: the JS heap plus Buffers (what a message kept would show in). */
const live = (m: NodeJS.MemoryUsage) => m.heapUsed + m.arrayBuffers;

/** One MTA connection: write commands (waiting for the socket to drain), read responses. */
class Mta {
  private readonly framer = new PacketFramer(64 * MB);
  private readonly got: MilterResponse[] = [];
  private wake: (() => void) | null = null;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.got.push(...this.framer.push(chunk).packets.map(decodeResponse));
      this.wake?.();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(): Promise<Mta> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new Mta(socket)));
      socket.once('error', reject);
    });
  }

  async send(...commands: MilterCommand[]): Promise<void> {
    for (const command of commands)
      if (!this.socket.write(encodeCommand(command)))
        await new Promise<void>((resolve) => this.socket.once('drain', resolve));
  }

  /** Waits for `count` more responses. */
  async read(count: number): Promise<MilterResponse[]> {
    const deadline = Date.now() + 60_000;
    while (this.got.length < count) {
      if (Date.now() > deadline) throw new Error(`got ${JSON.stringify(this.got)}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return this.got.splice(0, count);
  }

  async close(): Promise<void> {
    this.socket.end(encodeCommand({ kind: 'quit' }));
    await this.closed;
  }
}

/** Negotiates (everything offered, as Postfix does) and opens a message from a trusted client. */
async function openMessage(): Promise<Mta> {
  const mta = await Mta.open();
  await mta.send({ kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff });
  const [optneg] = await mta.read(1);
  assert.equal(optneg?.kind, 'optneg');
  await mta.send(
    { kind: 'connect', hostname: 'app.test', family: 'inet', port: 40000, address: '127.0.0.1' },
    { kind: 'mail', args: ['<app@example.com>'] },
  );
  // MAIL is the one stage answered before the data.
  assert.deepEqual(await mta.read(1), [{ kind: 'continue' }]);
  await mta.send({ kind: 'rcpt', args: ['<someone@example.net>'] });
  return mta;
}

/** EOH, a body, EOM: the verdict the MTA gets (the last response). */
async function finish(mta: Mta): Promise<MilterResponse> {
  await mta.send(
    { kind: 'eoh' },
    { kind: 'body', chunk: Buffer.from('Hello\r\n') },
    { kind: 'eom', chunk: Buffer.alloc(0) },
  );
  const [verdict] = await mta.read(1);
  return verdict!;
}

/** A normal message still gets its id and continue. */
async function stillServes(): Promise<void> {
  const mta = await openMessage();
  await mta.send({ kind: 'header', name: 'Subject', value: ' fine' });
  await mta.send({ kind: 'eoh' }, { kind: 'eom', chunk: Buffer.alloc(0) });
  // Its id and the id's signature added, then continue.
  const replies = await mta.read(3);
  assert.deepEqual(
    replies.map((r) => r.kind),
    ['addheader', 'addheader', 'continue'],
    JSON.stringify(replies),
  );
  await mta.close();
}

test('300 X-MSYS-API header packets of 1 MB: refused at the first, nothing kept, memory back near where it was', async () => {
  const before = await measure();
  const mta = await openMessage();
  const value = ` {"metadata":{"k":"${'v'.repeat(1_000_000)}"}}`;
  await mta.send({ kind: 'header', name: 'X-MSYS-API', value });
  // Decided at once, before the other 299 MB arrive.
  await waitFor(() => /"msg":"message refused in its header"/.test(log), 30_000, 'the refusal logged');
  assert.match(log, /"reply":"552 5\.3\.4 Message header section larger than 102400 bytes"/);
  for (let i = 1; i < 300; i++) await mta.send({ kind: 'header', name: 'X-MSYS-API', value });
  const during = await measure();
  const verdict = await finish(mta);
  assert.deepEqual(verdict, {
    kind: 'replycode',
    code: 552,
    enhanced: '5.3.4',
    lines: ['Message header section larger than 102400 bytes'],
  });
  await mta.close();
  const afterwards = await measure();
  const grown = (m: NodeJS.MemoryUsage) => ((live(m) - live(before)) / MB).toFixed(1);
  console.log(
    `# live memory before ${(live(before) / MB).toFixed(1)} MB, +${grown(during)} MB after 300 MB of header, ` +
      `+${grown(afterwards)} MB after close; RSS ${(before.rss / MB).toFixed(0)} → ${(during.rss / MB).toFixed(0)} → ${(afterwards.rss / MB).toFixed(0)} MB`,
  );
  // Before the fix the values were kept: +300 MB live until the message ended, RSS 113 → 598 MB.
  assert.ok(
    live(during) - live(before) < 16 * MB,
    `live memory grew by ${grown(during)} MB during the message`,
  );
  assert.ok(live(afterwards) - live(before) < 16 * MB, `live memory grew by ${grown(afterwards)} MB`);
  // RSS: a generous bound (the allocator may keep some freed pages), far below the 300 MB sent.
  assert.ok(
    afterwards.rss - before.rss < 100 * MB,
    `RSS ${(before.rss / MB).toFixed(0)} → ${(afterwards.rss / MB).toFixed(0)} MB`,
  );
  assert.equal(child.exitCode, null, 'still running');
  await stillServes();
});

test('a second X-MSYS-API header gets 550 5.6.0 naming the duplicate', async () => {
  const mta = await openMessage();
  await mta.send(
    { kind: 'header', name: 'X-MSYS-API', value: ' {"campaign_id":"one"}' },
    { kind: 'header', name: 'X-MSYS-API', value: ' {"campaign_id":"two"}' },
  );
  assert.deepEqual(await finish(mta), {
    kind: 'replycode',
    code: 550,
    enhanced: '5.6.0',
    lines: ['X-MSYS-API: the header appears more than once'],
  });
  await mta.close();
  await waitFor(
    () => /"reply":"550 5\.6\.0 X-MSYS-API: the header appears more than once"/.test(log),
    5_000,
    'the refusal logged when the duplicate arrived',
  );
  await stillServes();
});

test('X-MSYS-API nested 5,000 levels deep in metadata: 550 5.6.0 naming the field, not 451; the log says why', async () => {
  const mta = await openMessage();
  const metadata = `${'{"k":'.repeat(4999)}{"k":1}${'}'.repeat(4999)}`;
  await mta.send({ kind: 'header', name: 'X-MSYS-API', value: ` {"metadata":${metadata}}` });
  assert.deepEqual(await finish(mta), {
    kind: 'replycode',
    code: 550,
    enhanced: '5.6.0',
    lines: ['X-MSYS-API: metadata nests too deep (more than 32 levels)'],
  });
  await mta.close();
  await waitFor(
    () =>
      /"reply":"550 5\.6\.0 X-MSYS-API: metadata nests too deep[^"]*","msg":"X-MSYS-API refused"/.test(log),
    5_000,
    'the reason in the log',
  );
  assert.doesNotMatch(log, /"level":50/, 'nothing at error level');
  await stillServes();
});
