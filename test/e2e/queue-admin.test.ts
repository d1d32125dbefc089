/**
 * Specifies the queue tools a Postfix administrator reaches for, through the real CLI against a
 * real `sluice serve` (next hop: the fault sink) and then against the same data dir with serve
 * stopped: `queue show ID --headers|--body|--raw` print the spooled message (postcat); `queue
 * list` shows each message's last deferral reason; ALL, --domain and --older-than select messages
 * for hold, release, delete, bounce and requeue (postsuper ALL), and refuse mixed or missing
 * targets; requeue starts a deferred or held message over at once (postsuper -r); with no server,
 * list, summary and show read the spool directly and say so, with reasons from recorded events,
 * while operations that change the queue say no server is running.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { MessageFacts } from '../../src/core/events.js';
import { newMessageId } from '../../src/core/ids.js';
import { encodeTrailer } from '../../src/queue/spool-format.js';
import { searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import { type FaultScript, type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

/** Mail to *.down.example is deferred while its domain is in `down`. */
const down = new Set(['a.down.example', 'b.down.example']);
const SCRIPT: FaultScript = (rcpt) =>
  down.has(rcpt.slice(rcpt.indexOf('@') + 1))
    ? { kind: 'reply', code: 451, text: '4.7.1 Greylisted, come back later' }
    : { kind: 'accept' };

let sink: FaultSink;
let sluice: SluiceProcess;
let dataDir: string;
const overrides = { 'delivery.retry_schedule': '[1h]', 'bounces.dsn': false } as Record<
  string,
  string | boolean
>;

/** A message an earlier run spooled two days ago (as a crash or a restart leaves it). */
function spoolOldMessage(rcpt: string): string {
  const arrival = Date.now() - 2 * 86_400_000;
  const id = newMessageId(arrival);
  const body = Buffer.from(`From: old@example.com\r\nTo: ${rcpt}\r\nSubject: old one\r\n\r\nold body\r\n`);
  const facts: MessageFacts = {
    message_id: id,
    transmission_id: '1',
    msg_from: 'old@example.com',
    friendly_from: 'old@example.com',
    subject: 'old one',
    msg_size: body.length,
    injection_time: new Date(arrival).toISOString(),
    recv_method: 'esmtp',
    api_key_id: null,
    client_ip: '127.0.0.1',
    msys: {},
  };
  const trailer = encodeTrailer(body.length, {
    v: 1,
    mail_from: 'old@example.com',
    rcpts: [rcpt],
    facts,
    spool_id: id,
  });
  const dir = path.join(dataDir, 'spool', 'queue');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, id), Buffer.concat([body, trailer]));
  return id;
}

before(async () => {
  sink = await startFaultSink(SCRIPT);
  overrides['delivery.relayhost'] = `[127.0.0.1]:${sink.port}`;
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-queue-admin-'));
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const queue = (...args: string[]) => sluiceCli(['queue', ...args, '-o', `data_dir=${dataDir}`]);

async function listed(): Promise<Array<{ id: string; held: boolean; last_error: string | null }>> {
  const result = await queue('list', '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

async function send(to: string, subject: string, extraHeader = ''): Promise<string> {
  const data = Buffer.from(
    `From: app@example.com\r\nTo: ${to}\r\nSubject: ${subject}\r\n${extraHeader}\r\nline one\r\nline two\r\n`,
  );
  const result = await swaks({ port: sluice.smtpPort, from: 'app@example.com', to: [to], data });
  assert.ok(result.queuedId, result.stdout);
  return result.queuedId;
}

async function deferred(id: string): Promise<void> {
  await waitFor(
    async () => (await searchEvents(dataDir, { messageId: id, type: 'delay' })).length > 0,
    20_000,
    `a delay event for ${id}`,
  );
}

async function delivered(rcpt: string): Promise<void> {
  await waitFor(() => sink.messages.some((m) => m.rcptTo.includes(rcpt)), 20_000, `delivery to ${rcpt}`);
}

const ids: Record<string, string> = {};

test('show --headers, --body and --raw print the spooled message; list gives each message its last reason', async () => {
  ids.old = spoolOldMessage('old@a.down.example');
  sluice = await startSluice({ dataDir, overrides });
  ids.a1 = await send('one@a.down.example', 'first', 'X-MSYS-API: {"campaign_id":"c1"}\r\n');
  ids.a2 = await send('two@a.down.example', 'second');
  ids.b1 = await send('three@b.down.example', 'third');
  for (const id of Object.values(ids)) await deferred(id);

  const headers = await queue('show', ids.a1, '--headers');
  assert.equal(headers.code, 0, headers.stderr);
  assert.match(headers.stdout, /^Received: from swaks\.client\.test/);
  assert.match(headers.stdout, /\r\nSubject: first\r\n/);
  assert.ok(headers.stdout.endsWith('\r\n') && !headers.stdout.endsWith('\r\n\r\n'), 'up to its last line');
  assert.doesNotMatch(headers.stdout, /X-MSYS-API/, 'X-MSYS-API was taken out at injection');
  assert.doesNotMatch(headers.stdout, /line one/);

  const body = await queue('show', ids.a1, '--body');
  assert.equal(body.code, 0, body.stderr);
  assert.equal(body.stdout, 'line one\r\nline two\r\n');

  const raw = await queue('show', ids.a1, '--raw');
  assert.equal(raw.stdout, `${headers.stdout}\r\n${body.stdout}`, 'raw is headers, the empty line, body');

  const missing = await queue('show', 'ffffffffffffffffffff', '--raw');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no queued message ffffffffffffffffffff/);
  assert.equal((await queue('show', ids.a1, '--raw', '--json')).code, 64);

  const table = await queue('list');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ID\s+SIZE\s+ARRIVAL\s+STATE\s+SENDER\s+RECIPIENTS\s+LAST REASON$/m);
  for (const id of [ids.a1, ids.a2, ids.b1])
    assert.match(table.stdout, new RegExp(`^${id} .*451 4\\.7\\.1 Greylisted, come back later$`, 'm'));
  const shown = await queue('show', ids.b1);
  assert.match(shown.stdout, /three@b\.down\.example\s+deferred\s+1\s+\S+\s+451 4\.7\.1 Greylisted/);
});

test('ALL, --domain and --older-than select what hold, release and delete act on; mixed targets are refused', async () => {
  const oldOnly = await queue('delete', '--older-than', '1d');
  assert.equal(oldOnly.code, 0, oldOnly.stderr);
  assert.match(oldOnly.stdout, new RegExp(`^${ids.old}: deleted$`, 'm'));
  assert.match(oldOnly.stdout, /^deleted: 1 message$/m, 'only the message from two days ago');
  const removal = await searchEvents(dataDir, { messageId: ids.old!, type: 'bounce' });
  assert.match(String(removal[0]?.raw_reason), /deleted by the administrator/);

  const heldAll = await queue('hold', 'ALL');
  assert.equal(heldAll.code, 0, heldAll.stderr);
  assert.match(heldAll.stdout, /^held: 3 messages$/m);
  assert.ok((await listed()).every((m) => m.held));
  assert.match((await queue('hold', 'ALL')).stdout, /^held: 0 messages$/m, 'ALL holds what is not held yet');

  const releasedB = await queue('release', '--domain', 'b.down.example');
  assert.match(releasedB.stdout, new RegExp(`^${ids.b1}: released$`, 'm'));
  assert.match(releasedB.stdout, /^released: 1 message$/m);
  const narrowed = await queue('release', 'ALL', '--domain', 'a.down.example', '--older-than', '1h');
  assert.match(narrowed.stdout, /^released: 0 messages$/m, 'none of a.down.example is an hour old');
  assert.deepEqual(
    (await listed()).filter((m) => m.held).map((m) => m.id),
    [ids.a1, ids.a2].sort(),
  );

  for (const args of [
    ['delete'],
    ['delete', ids.a1!, '--domain', 'a.down.example'],
    ['delete', 'ALL', ids.a1!],
    ['hold', '--older-than', 'soon'],
  ]) {
    const refused = await queue(...args);
    assert.equal(refused.code, 64, `${args.join(' ')}: ${refused.stderr}`);
    assert.match(refused.stderr, /usage: sluice queue/);
  }
  assert.equal((await listed()).length, 3, 'nothing was touched by a refused command');
});

test('requeue starts a deferred message over now, and a held one too (its hold lifted)', async () => {
  down.delete('b.down.example');
  const requeued = await queue('requeue', ids.b1!);
  assert.equal(requeued.code, 0, requeued.stderr);
  assert.match(requeued.stdout, new RegExp(`^${ids.b1}: requeued$`, 'm'));
  await delivered('three@b.down.example'); // the retry schedule alone would wait an hour

  down.delete('a.down.example');
  const all = await queue('requeue', '--domain', 'a.down.example');
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^requeued: 2 messages$/m);
  await delivered('one@a.down.example');
  await delivered('two@a.down.example');
  await waitFor(async () => (await listed()).length === 0, 20_000, 'an empty queue');
});

test('with serve stopped, list, summary and show read the spool and say so; changes need the server', async () => {
  down.add('a.down.example');
  ids.late = await send('late@a.down.example', 'late');
  await deferred(ids.late);
  const held = await queue('hold', ids.late);
  assert.equal(held.code, 0, held.stderr);
  await sluice.stop();

  const list = await queue('list');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stderr, /no sluice serve is running .*read from the spool directly/);
  assert.match(
    list.stdout,
    new RegExp(
      `^${ids.late} .*held .*late@a\\.down\\.example\\s+451 4\\.7\\.1 Greylisted, come back later$`,
      'm',
    ),
  );
  assert.match(list.stdout, /^-- 1 message$/m);

  const summary = await queue('summary', '--json');
  assert.equal(summary.code, 0, summary.stderr);
  const rows = JSON.parse(summary.stdout) as Array<Record<string, unknown>>;
  assert.equal(rows.length, 1, summary.stdout);
  assert.equal(rows[0]!.domain, 'a.down.example');
  assert.equal(rows[0]!.held, 1);
  assert.match(String(rows[0]!.last_error), /^451 4\.7\.1 Greylisted/);

  const shown = await queue('show', ids.late, '--json');
  assert.equal(shown.code, 0, shown.stderr);
  const message = JSON.parse(shown.stdout);
  assert.equal(message.held, true);
  assert.deepEqual(
    message.recipients.map((r: Record<string, unknown>) => [r.rcpt, r.state, r.attempts, r.due]),
    [['late@a.down.example', 'held', 1, null]],
  );
  const body = await queue('show', ids.late, '--body');
  assert.equal(body.stdout, 'line one\r\nline two\r\n');
  const unknown = await queue('show', 'ffffffffffffffffffff');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no queued message/);

  const release = await queue('release', ids.late);
  assert.equal(release.code, 69);
  assert.match(release.stderr, /no sluice serve is running/);
});
