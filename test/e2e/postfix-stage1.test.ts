/**
 * Specifies stage 1 of a Postfix migration (Sluice as Postfix's smart host) against a real scratch
 * Postfix whose relayhost is [127.0.0.1]:<Sluice's smtp port>: an app hands a message to Postfix
 * (swaks), Postfix relays it to Sluice from the trusted network without AUTH, and Sluice delivers
 * it to the recording sink (its own relayhost). The sink gets the app's envelope, Subject and body;
 * the X-MSYS-API header the app set is honoured (campaign, metadata and tags in Sluice's events)
 * and removed from the delivered bytes; the Received chain shows Sluice above Postfix, with the
 * queue ids that link Postfix's log to Sluice's events; Sluice records injection and delivery.
 * A message with recipients in two domains reaches every recipient once, one transaction a domain.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { searchEvents } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type ReceivedMessage, type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SLUICE_HOSTNAME = 'sluice.stage1.test';
/** The scratch Postfix's myhostname (test/harness/postfix.ts). */
const POSTFIX_HOSTNAME = 'sluice-test.localdomain';

let sink: Sink;
let sluice: SluiceProcess;
let postfix: PostfixInstance;

before(async () => {
  sink = await startSink();
  sluice = await startSluice({
    overrides: {
      'smtp.hostname': SLUICE_HOSTNAME,
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'delivery.tls': 'none',
    },
  });
  // The documented settings, as an admin would paste them, pointed at this test's Sluice.
  const stage1 = readMainCf(
    path.join(repoRoot, 'contrib/postfix/main.cf.stage1'),
    `[127.0.0.1]:${sluice.smtpPort}`,
  );
  assert.equal(stage1.relayhost, `[127.0.0.1]:${sluice.smtpPort}`, 'contrib sets relayhost');
  postfix = await startPostfix({ relayhost: stage1.relayhost, extraMainCf: stage1 });
});

after(async () => {
  await postfix?.stop();
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

interface SwaksRun {
  code: number | null;
  transcript: string;
}

/** One swaks session into Postfix with `data` as the exact DATA contents. */
async function sendIntoPostfix(from: string, to: string[], data: string): Promise<SwaksRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-stage1-'));
  try {
    const file = path.join(dir, 'message.eml');
    // swaks ends the DATA with a line break of its own.
    writeFileSync(file, data.replace(/\r\n$/, ''));
    const args = ['--server', '127.0.0.1', '--port', String(postfix.port), '--helo', 'app.client.test'];
    args.push('--from', from, '--to', to.join(','), '--data', `@${file}`, '--timeout', '30');
    return await new Promise((resolve) => {
      execFile('/usr/bin/swaks', args, { timeout: 60_000 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, transcript: `${stdout}${stderr}` });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface EventRow {
  type: string;
  message_id: string;
  rcpt_to: string;
  [field: string]: unknown;
}

/** The header section, folded lines joined, as [name, value] pairs in order. */
function headersOf(message: ReceivedMessage): Array<[string, string]> {
  const head = message.text.slice(0, message.text.indexOf('\r\n\r\n'));
  const fields: Array<[string, string]> = [];
  for (const line of head.split('\r\n')) {
    const last = fields[fields.length - 1];
    if (/^[ \t]/.test(line) && last) last[1] += ` ${line.trim()}`;
    else {
      const colon = line.indexOf(':');
      fields.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
    }
  }
  return fields;
}

function bodyOf(message: ReceivedMessage): string {
  return message.text.slice(message.text.indexOf('\r\n\r\n') + 4);
}

/** Postfix's queue id from swaks' transcript of Postfix's "250 2.0.0 Ok: queued as X". */
function postfixQueueId(transcript: string): string | undefined {
  return /<- {2}250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)/.exec(transcript)?.[1];
}

/** The id Sluice gave the message, as Postfix logged Sluice's reply for that queue id. */
async function sluiceIdFromPostfixLog(postfixId: string): Promise<string> {
  const line = (await waitFor(
    () =>
      postfix
        .log()
        .split('\n')
        .find((l) => l.includes(` ${postfixId}: `) && l.includes('status=sent')),
    30_000,
    `status=sent for ${postfixId} in Postfix's log`,
  ))!;
  assert.match(line, new RegExp(`relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sluice.smtpPort}`), line);
  const id = /status=sent \(250 2\.0\.0 Ok: queued as ([0-9a-f]{20})\)/.exec(line)?.[1];
  assert.ok(id, `Sluice's queued-as reply in: ${line}`);
  return id;
}

test("an app's message relayed by Postfix through Sluice arrives with its X-MSYS-API honoured", async () => {
  const marker = `stage1-${process.pid}-${Date.now()}`;
  const msys = { campaign_id: 'stage1-campaign', metadata: { order: '42' }, tags: ['postfix', 'stage1'] };
  const body = `Hello from behind Postfix.\r\n${marker}\r\nLast line.\r\n`;
  const data =
    [
      'From: Shop App <app@example.com>',
      'To: Customer <customer@dest.example>',
      `Subject: Your order (${marker})`,
      `Message-ID: <${marker}@app.example.com>`,
      `X-MSYS-API: ${JSON.stringify(msys)}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      '',
    ].join('\r\n') + body;

  const sent = await sendIntoPostfix('app@example.com', ['customer@dest.example'], data);
  assert.equal(sent.code, 0, sent.transcript);
  const postfixId = postfixQueueId(sent.transcript);
  assert.ok(postfixId, `Postfix's queue id in:\n${sent.transcript}`);

  const message = (await waitFor(
    () => sink.messages.find((m) => m.text.includes(marker)),
    60_000,
    'the message at the sink',
  ))!;
  const sluiceId = await sluiceIdFromPostfixLog(postfixId);
  await postfix.waitForEmptyQueue(30_000);

  // Envelope, Subject and body as the app sent them.
  assert.equal(message.mailFrom, 'app@example.com');
  assert.deepEqual(message.rcptTo, ['customer@dest.example']);
  const headers = headersOf(message);
  const value = (name: string) => headers.filter(([n]) => n === name).map(([, v]) => v);
  assert.deepEqual(value('subject'), [`Your order (${marker})`]);
  assert.deepEqual(value('from'), ['Shop App <app@example.com>']);
  assert.deepEqual(value('message-id'), [`<${marker}@app.example.com>`]);
  assert.equal(bodyOf(message), body);

  // X-MSYS-API was read by Sluice and is not passed on.
  assert.deepEqual(value('x-msys-api'), []);
  assert.doesNotMatch(message.text, /x-msys-api/i);

  // The trace: Sluice's Received on top, naming Postfix as its client, then Postfix's own.
  const received = value('received');
  assert.ok(received.length >= 2, `two Received headers:\n${received.join('\n')}`);
  const [bySluice, byPostfix] = received as [string, string];
  assert.match(
    bySluice,
    new RegExp(
      `^from ${POSTFIX_HOSTNAME.replace(/\./g, '\\.')} \\(\\[127\\.0\\.0\\.1\\]\\) by ${SLUICE_HOSTNAME.replace(/\./g, '\\.')} \\(Sluice\\) with ESMTPS? id ${sluiceId}\\b`,
    ),
  );
  assert.doesNotMatch(bySluice, /ESMTPS?A/, 'Postfix relayed from the trusted network, without AUTH');
  assert.match(
    byPostfix,
    new RegExp(
      `^from app\\.client\\.test \\(.*\\[127\\.0\\.0\\.1\\]\\) by ${POSTFIX_HOSTNAME.replace(/\./g, '\\.')} \\(Postfix\\) with E?SMTP id ${postfixId}\\b`,
    ),
  );

  // Sluice's events: injection and delivery, carrying what X-MSYS-API said.
  const events = (await waitFor(
    async () => {
      const found = await searchEvents<EventRow>(sluice.dataDir, { messageId: sluiceId });
      return found.some((e) => e.type === 'delivery') ? found : null;
    },
    30_000,
    'the delivery event',
  ))!;
  const injection = events.find((e) => e.type === 'injection');
  const delivery = events.find((e) => e.type === 'delivery');
  assert.ok(injection && delivery, JSON.stringify(events));
  assert.deepEqual(
    events.map((e) => e.type).sort(),
    ['delivery', 'injection'],
    'one injection, one delivery, nothing else',
  );
  for (const event of [injection, delivery]) {
    assert.equal(event.rcpt_to, 'customer@dest.example');
    assert.equal(event.msg_from, 'app@example.com');
    assert.equal(event.subject, `Your order (${marker})`);
    assert.equal(event.campaign_id, 'stage1-campaign');
    assert.deepEqual(event.rcpt_meta, { order: '42' });
    assert.deepEqual(event.rcpt_tags, ['postfix', 'stage1']);
    assert.equal(event.ip_address, '127.0.0.1');
    assert.equal(event.api_key_id, null, 'trusted network, no key');
  }
});

test('a message from Postfix to several recipients in two domains reaches each of them once', async () => {
  const marker = `stage1-multi-${process.pid}-${Date.now()}`;
  const rcpts = ['ann@one.example', 'bob@one.example', 'cat@two.example'];
  const data = [
    'From: app@example.com',
    `To: ${rcpts.join(', ')}`,
    `Subject: Several recipients (${marker})`,
    'X-MSYS-API: {"campaign_id":"stage1-multi"}',
    '',
    `Body ${marker}`,
    '',
  ].join('\r\n');

  const sent = await sendIntoPostfix('app@example.com', rcpts, data);
  assert.equal(sent.code, 0, sent.transcript);
  const postfixId = postfixQueueId(sent.transcript);
  assert.ok(postfixId, sent.transcript);

  const mine = () => sink.messages.filter((m) => m.text.includes(marker));
  await waitFor(
    () => mine().flatMap((m) => m.rcptTo).length >= rcpts.length,
    60_000,
    'every recipient at the sink',
  );
  const sluiceId = await sluiceIdFromPostfixLog(postfixId);
  await postfix.waitForEmptyQueue(30_000);

  const delivered = mine()
    .flatMap((m) => m.rcptTo)
    .sort();
  assert.deepEqual(delivered, rcpts, 'each recipient exactly once');
  for (const message of mine()) {
    const domains = new Set(message.rcptTo.map((r) => r.slice(r.indexOf('@') + 1)));
    assert.equal(domains.size, 1, `one domain a transaction: ${message.rcptTo.join(', ')}`);
    assert.equal(message.mailFrom, 'app@example.com');
    assert.doesNotMatch(message.text, /x-msys-api/i);
    assert.match(message.text, new RegExp(`\\(Sluice\\) with ESMTPS? id ${sluiceId}\\b`));
    assert.match(message.text, /\(Postfix\) with E?SMTP id /);
  }

  const events = (await waitFor(
    async () => {
      const found = await searchEvents<EventRow>(sluice.dataDir, { messageId: sluiceId });
      return found.filter((e) => e.type === 'delivery').length >= rcpts.length ? found : null;
    },
    30_000,
    'a delivery event per recipient',
  ))!;
  const byType = (type: string) =>
    events
      .filter((e) => e.type === type)
      .map((e) => e.rcpt_to)
      .sort();
  assert.deepEqual(byType('injection'), rcpts);
  assert.deepEqual(byType('delivery'), rcpts);
  assert.ok(events.every((e) => e.campaign_id === 'stage1-multi'));
});

/** Reads a main.cf fragment (name = value lines), pointing Sluice's documented address at `sluice`. */
function readMainCf(file: string, sluice: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([a-z_0-9]+)\s*=\s*(.*)$/.exec(line.trim());
    if (match) settings[match[1]!] = match[2]!.replaceAll('[127.0.0.1]:2525', sluice);
  }
  return settings;
}
