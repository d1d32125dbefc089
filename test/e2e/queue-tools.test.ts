/**
 * Specifies `sluice queue summary|list|show|flush|hold|release|delete|bounce` against a running
 * `sluice serve` whose next hop is the fault sink, through the local admin socket: deferred messages
 * are summarised by domain with their last error; flush makes a deferred message's next attempt
 * happen now; hold keeps a message from delivery, also across a restart, until release; delete
 * removes it without a DSN, recording a class-25 bounce event; bounce records class-25 bounce events
 * and sends a DSN; a message whose
 * attempt is running cannot be deleted (busy); unknown or malformed IDs, garbage on the socket and
 * a stopped server give clear errors (reading the queue then goes to the spool) and the server stays up.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import { type FaultScript, type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

/** Everything at down.example is deferred until `downIsUp`; stall@ never gets an answer. */
let downIsUp = false;
const SCRIPT: FaultScript = (rcpt) => {
  if (rcpt.startsWith('stall@')) return { kind: 'stall', phase: 'rcpt' };
  if (rcpt.endsWith('@down.example') && !downIsUp)
    return { kind: 'reply', code: 451, text: '4.3.0 Mailbox temporarily unavailable' };
  return { kind: 'accept' };
};

let sink: FaultSink;
let sluice: SluiceProcess;
let overrides: Record<string, string>;

before(async () => {
  sink = await startFaultSink(SCRIPT);
  overrides = {
    'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
    'delivery.retry_schedule': '[1h]',
    'smtp.hostname': 'mx.sluice.test',
  };
  sluice = await startSluice({ overrides });
});

after(async () => {
  await sink?.stop();
  await sluice?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

const queue = (...args: string[]) => sluiceCli(['queue', ...args, '-o', `data_dir=${sluice.dataDir}`]);

async function queueJson<T>(...args: string[]): Promise<T> {
  const result = await queue(...args, '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}

async function send(to: string, subject: string): Promise<string> {
  const data = Buffer.from(`From: app@example.com\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nbody\r\n`);
  const result = await swaks({ port: sluice.smtpPort, from: 'app@example.com', to: [to], data });
  assert.ok(result.queuedId, result.stdout);
  return result.queuedId;
}

async function eventTypes(id: string, until: (types: string[]) => boolean): Promise<string[]> {
  return (await waitFor(
    async () => {
      const types = (await searchEvents(sluice.dataDir, { messageId: id })).map((e) => String(e.type));
      return until(types) ? types : undefined;
    },
    20_000,
    `events of ${id}`,
  ))!;
}

const spoolFile = (id: string, suffix = '') => path.join(sluice.dataDir, 'spool', 'queue', `${id}${suffix}`);

interface Shown {
  id: string;
  held: boolean;
  last_error: string | null;
  recipients: Array<{ rcpt: string; state: string; attempts: number; due: string | null }>;
}

const ids: Record<string, string> = {};

test('summary, list and show describe deferred messages by domain with their last error', async () => {
  for (const name of ['one', 'two', 'three', 'four']) {
    ids[name] = await send(`${name}@down.example`, name);
    await eventTypes(ids[name]!, (t) => t.includes('delay'));
  }
  const summary = await queueJson<Array<Record<string, unknown>>>('summary');
  const down = summary.find((row) => row.domain === 'down.example');
  assert.ok(down, JSON.stringify(summary));
  assert.equal(down.messages, 4);
  assert.equal(down.recipients, 4);
  assert.match(String(down.last_error), /^451 4\.3\.0 Mailbox temporarily unavailable/);
  const text = await queue('summary');
  assert.match(text.stdout, /^DOMAIN\s+MESSAGES/);
  assert.match(text.stdout, /down\.example\s+4\s+4\s+0/);

  const listed = await queueJson<Shown[]>('list');
  assert.deepEqual(listed.map((m) => m.id).sort(), Object.values(ids).sort());
  // A limit shows the oldest and says how many there are in all.
  const limited = await queue('list', '--limit', '1');
  assert.equal(limited.code, 0, limited.stderr);
  assert.match(
    limited.stdout,
    new RegExp(`^-- 1 of ${listed.length} messages \\(--limit N or --all for more\\)$`, 'm'),
  );
  const sortedIds = listed.map((m) => m.id).sort();
  assert.ok(limited.stdout.includes(sortedIds[0]!), 'the oldest is the one shown');
  assert.ok(!limited.stdout.includes(sortedIds[1]!));
  assert.match((await queue('list', '--all')).stdout, new RegExp(`^-- ${listed.length} messages$`, 'm'));
  assert.notEqual((await queue('list', '--all', '--limit', '2')).code, 0);
  const shown = await queueJson<Shown>('show', ids.one!);
  assert.equal(shown.held, false);
  assert.deepEqual(
    shown.recipients.map((r) => [r.rcpt, r.state, r.attempts]),
    [['one@down.example', 'deferred', 1]],
  );
  assert.ok(
    Date.parse(shown.recipients[0]!.due!) > Date.now() + 30 * 60_000,
    'next attempt in about an hour',
  );
});

test('flush ID attempts that message now', async () => {
  const flushed = await queue('flush', ids.one!);
  assert.equal(flushed.code, 0, flushed.stderr);
  assert.match(flushed.stdout, /flushed 1 deferred delivery job/);
  await waitFor(() => (sink.offers.get('one@down.example') ?? 0) >= 2, 20_000, 'second offer');
  await eventTypes(ids.one!, (t) => t.filter((x) => x === 'delay').length === 2);
  assert.equal(sink.offers.get('two@down.example'), 1, 'other messages keep their schedule');
});

test('hold keeps a message back across a restart; flush --domain delivers the rest; release delivers it', async () => {
  const held = await queue('hold', ids.two!);
  assert.equal(held.code, 0, held.stderr);
  assert.match(held.stdout, new RegExp(`${ids.two}: held`));
  assert.ok(existsSync(spoolFile(ids.two!, '.hold')));

  downIsUp = true;
  const flushed = await queue('flush', '--domain', 'down.example');
  assert.equal(flushed.code, 0, flushed.stderr);
  assert.match(flushed.stderr, /scanning messages: 4\/4/, 'progress is shown');
  for (const name of ['one', 'three', 'four']) await eventTypes(ids[name]!, (t) => t.includes('delivery'));
  assert.equal((await queueJson<Shown>('show', ids.two!)).held, true);

  await sluice.stop();
  sluice = await startSluice({ dataDir: sluice.dataDir, overrides });
  const after = await queueJson<Shown>('show', ids.two!);
  assert.equal(after.held, true, 'still held after the restart');
  assert.equal(after.recipients[0]!.state, 'held');
  assert.equal(sink.offers.get('two@down.example'), 1, 'not attempted while held');

  const released = await queue('release', ids.two!);
  assert.equal(released.code, 0, released.stderr);
  await eventTypes(ids.two!, (t) => t.includes('delivery'));
  assert.ok(!existsSync(spoolFile(ids.two!, '.hold')));
  assert.equal(sink.messages.filter((m) => m.rcptTo.includes('two@down.example')).length, 1);
});

test('delete removes a message without a DSN; delete and bounce record class 25 events; bounce sends a DSN', async () => {
  downIsUp = false;
  const gone = await send('gone@down.example', 'to delete');
  const back = await send('back@down.example', 'to bounce');
  for (const id of [gone, back]) await eventTypes(id, (t) => t.includes('delay'));

  const deleted = await queue('delete', gone);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.ok(!existsSync(spoolFile(gone)));
  const deletion = await searchEvents(sluice.dataDir, { messageId: gone, type: 'bounce' });
  assert.equal(deletion.length, 1, 'one bounce event for its one recipient');
  assert.equal(deletion[0]!.bounce_class, '25');
  assert.equal(deletion[0]!.rcpt_to, 'gone@down.example');
  assert.match(String(deletion[0]!.raw_reason), /deleted by the administrator \(no DSN sent\)/);

  const bounced = await queue('bounce', back);
  assert.equal(bounced.code, 0, bounced.stderr);
  const events = await searchEvents(sluice.dataDir, { messageId: back, type: 'bounce' });
  assert.equal(events[0]!.bounce_class, '25');
  assert.match(String(events[0]!.raw_reason), /bounced by the administrator/);
  assert.ok(!existsSync(spoolFile(back)));
  const dsn = await waitFor(
    () => sink.messages.find((m) => m.mailFrom === '' && m.text.includes('Subject: to bounce')),
    20_000,
    'DSN',
  );
  assert.match(dsn!.text, /Status: 5\.0\.0/);
  assert.ok(
    !sink.messages.some((m) => m.mailFrom === '' && m.text.includes('Subject: to delete')),
    'no DSN for the deleted message',
  );

  const list = await queueJson<Shown[]>('list');
  assert.ok(!list.some((m) => m.id === gone || m.id === back));
});

test('a message being delivered cannot be deleted; errors are clear and the server stays up', async () => {
  const stalled = await send('stall@slow.example', 'stalled');
  await waitFor(() => sink.offers.has('stall@slow.example'), 20_000, 'the stalled attempt');
  const busy = await queue('delete', stalled);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /being delivered right now/);

  const unknown = await queue('show', 'ffffffffffffffffffff');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no queued message ffffffffffffffffffff/);
  const malformed = await queue('show', '../../etc');
  assert.equal(malformed.code, 1);
  assert.match(malformed.stderr, /20 hexadecimal characters/);
  const usage = await queue('hold');
  assert.equal(usage.code, 64);

  // Garbage and a malformed JSON body straight on the socket.
  const socket = path.join(sluice.dataDir, 'admin', 'admin.sock');
  for (const bytes of [
    Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]),
    Buffer.from(
      'POST /v1/queue/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"ids":[1',
    ),
  ]) {
    const answer = await new Promise<string>((resolve) => {
      const client = net.connect(socket);
      let text = '';
      client.on('data', (c: Buffer) => {
        text += c.toString('latin1');
      });
      client.on('close', () => resolve(text));
      client.on('error', () => resolve(text));
      client.end(bytes);
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
  }
  assert.equal((await queue('summary')).code, 0, 'still answering');

  const stoppedDir = sluice.dataDir;
  await sink.stop(); // unblocks the stalled attempt so the server can stop
  await sluice.stop();
  const down = await sluiceCli(['queue', 'flush', '-o', `data_dir=${stoppedDir}`]);
  assert.equal(down.code, 69);
  assert.match(down.stderr, /no sluice serve is running/);
  const read = await sluiceCli(['queue', 'summary', '-o', `data_dir=${stoppedDir}`]);
  assert.equal(read.code, 0, 'reading the queue needs no server (the spool is read directly)');
  assert.match(read.stderr, /no sluice serve is running .*read from the spool directly/);
});
