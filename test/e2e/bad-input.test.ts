/**
 * Specifies how a real `sluice serve` answers bad input on the smtp listener, byte by byte over raw
 * sockets: every refusal is a clear reply with an enhanced status code, nothing refused is queued or
 * delivered, and the server stays up (a normal message still goes through after each case). Covered:
 * garbage and malformed commands, command lines over smtp.max_command_length, NUL bytes in commands
 * and in DATA, bare LF line ends (accepted, delivered as CRLF), 8-bit bodies without BODY=8BITMIME
 * (accepted, bytes intact), messages over smtp.max_message_size, a 1 MB header line, an over-large
 * header section, invalid X-MSYS-API headers, too many recipients, binary junk at connect, and a client
 * that hangs up in the middle of DATA (nothing delivered, nothing left in the spool, one info line
 * in the log and nothing at error level).
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { queuedId, RawSmtp, type Reply, searchEvents } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
/** Small limits: max_message_size 10000, max_recipients 3, max_command_length 512. */
let small: SluiceProcess;
/** Default limits (25 MB messages, 64 KiB lines, 100 KiB header section). */
let roomy: SluiceProcess;
let serial = 0;

before(async () => {
  sink = await startSink();
  const relayhost = `[127.0.0.1]:${sink.port}`;
  // Each assigned as soon as it runs, so after() stops it even if the other failed to start.
  await Promise.all([
    startSluice({
      overrides: {
        'delivery.relayhost': relayhost,
        'smtp.max_message_size': 10_000,
        'smtp.max_recipients': 3,
        'smtp.max_command_length': 512,
      },
    }).then((s) => {
      small = s;
    }),
    startSluice({ overrides: { 'delivery.relayhost': relayhost } }).then((s) => {
      roomy = s;
    }),
  ]);
});

after(async () => {
  await Promise.all([small?.stop(), roomy?.stop()]);
  await sink?.stop();
  for (const s of [small, roomy]) if (s) rmSync(s.dataDir, { recursive: true, force: true });
});

/** A recipient address used by one case only, so its events and deliveries are its own. */
function uniqueRcpt(tag: string): string {
  serial += 1;
  return `${tag}-${serial}-${process.pid}@bad-input.example`;
}

async function session(sluice: SluiceProcess): Promise<RawSmtp> {
  const client = await RawSmtp.open(sluice.smtpPort);
  const ehlo = await client.command('EHLO raw.client.test');
  assert.equal(ehlo.code, 250, ehlo.raw);
  return client;
}

/** MAIL, RCPT, DATA, then `body` and the final dot; returns the reply to the dot. */
async function transaction(client: RawSmtp, rcpt: string, body: string | Buffer): Promise<Reply> {
  assert.equal((await client.command('MAIL FROM:<sender@example.com>')).code, 250);
  assert.equal((await client.command(`RCPT TO:<${rcpt}>`)).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  client.write(body);
  return await client.command('.');
}

/** The server still accepts and delivers an ordinary message, on a new connection. */
async function stillWorks(sluice: SluiceProcess): Promise<void> {
  const rcpt = uniqueRcpt('ok');
  const client = await session(sluice);
  try {
    const reply = await transaction(client, rcpt, 'Subject: still up\r\n\r\nfine\r\n');
    assert.match(reply.raw, /^250 2\.0\.0 Ok: queued as /);
  } finally {
    await client.quit();
  }
  await waitFor(
    () => sink.messages.some((m) => m.rcptTo.includes(rcpt)),
    15_000,
    'a normal message delivered',
  );
}

/** Nothing was injected or delivered for rcpt; a refusal at end of DATA is only a policy_rejection. */
async function nothingQueuedFor(sluice: SluiceProcess, rcpt: string): Promise<void> {
  const events = await searchEvents(sluice.dataDir, { recipient: rcpt });
  const types = events.map((e) => e.type).filter((t) => t !== 'policy_rejection');
  assert.deepEqual(types, [], `events for ${rcpt}`);
  assert.ok(!sink.messages.some((m) => m.rcptTo.includes(rcpt)), `${rcpt} reached the sink`);
}

function spoolFiles(sluice: SluiceProcess): string[] {
  return readdirSync(path.join(sluice.dataDir, 'spool', 'queue'));
}

const ENHANCED = /^\d{3} [245]\.\d{1,3}\.\d{1,3} /;

test('garbage and malformed commands get 500/501 with enhanced codes; the session goes on', async () => {
  const client = await session(small);
  try {
    const garbage = await client.command('XYZZY plugh');
    assert.match(garbage.raw, /^500 5\.5\.2 /);
    const doubleAngle = await client.command('MAIL FROM:<<>');
    assert.match(doubleAngle.raw, /^501 5\.1\.7 /);
    const noAngle = await client.command('MAIL FROM:sender@example.com');
    assert.match(noAngle.raw, /^501 5\.1\.7 /);
    const rcptFirst = await client.command('RCPT TO:<someone@example.com>');
    assert.match(rcptFirst.raw, /^503 5\.5\.1 /);
    assert.equal((await client.command('NOOP')).code, 250);
  } finally {
    await client.quit();
  }
  await stillWorks(small);
});

test('a command line longer than smtp.max_command_length is refused with an enhanced code', async () => {
  const client = await session(small);
  try {
    // 505 bytes: under the configured 512, fine.
    assert.equal((await client.command(`NOOP ${'a'.repeat(500)}`)).code, 250);
    // 605 bytes: over 512 (the default limit, 4096, would have let it through).
    const tooLong = await client.command(`NOOP ${'a'.repeat(600)}`);
    assert.match(tooLong.raw, /^(500 5\.5\.\d|421 4\.\d\.\d) /, tooLong.raw);
  } finally {
    await client.quit();
  }
  await stillWorks(small);
});

test('NUL bytes: in a command a syntax error, in DATA 550 5.6.0; nothing is queued', async () => {
  const rcpt = uniqueRcpt('nul');
  const client = await session(small);
  try {
    const inMail = await client.command(Buffer.from('MAIL FROM:<sen\0der@example.com>', 'latin1'));
    assert.match(inMail.raw, /^5\d\d 5\.\d\.\d /, inMail.raw);
    const inVerb = await client.command(Buffer.from('NO\0OP', 'latin1'));
    assert.match(inVerb.raw, /^5\d\d 5\.\d\.\d /, inVerb.raw);
    const inData = await transaction(
      client,
      rcpt,
      Buffer.from('Subject: nul\r\n\r\nbefore\0after\r\n', 'latin1'),
    );
    assert.match(inData.raw, /^550 5\.6\.0 /);
    assert.equal((await client.command('NOOP')).code, 250, 'the session goes on');
  } finally {
    await client.quit();
  }
  await nothingQueuedFor(small, rcpt);
  await stillWorks(small);
});

test('bare LF line ends are accepted and delivered as CRLF', async () => {
  const rcpt = uniqueRcpt('lf');
  const client = await session(small);
  try {
    const reply = await transaction(client, rcpt, 'Subject: bare lf\nX-Test: yes\n\nline one\nline two\r\n');
    assert.match(reply.raw, /^250 2\.0\.0 /);
  } finally {
    await client.quit();
  }
  const delivered = (await waitFor(
    () => sink.messages.find((m) => m.rcptTo.includes(rcpt)),
    15_000,
    'delivery',
  ))!;
  assert.ok(delivered.text.endsWith('Subject: bare lf\r\nX-Test: yes\r\n\r\nline one\r\nline two\r\n'));
  assert.doesNotMatch(delivered.text, /[^\r]\n/, 'every LF is part of a CRLF');
});

test('an 8-bit body without BODY=8BITMIME is accepted and its bytes arrive intact', async () => {
  const rcpt = uniqueRcpt('8bit');
  // Latin-1, UTF-8 and bytes that are neither: all must pass untouched.
  const body = Buffer.concat([
    Buffer.from('Subject: 8bit\r\n\r\n'),
    Buffer.from('caf\xe9 \xff\xfe\x80\r\n', 'latin1'),
    Buffer.from('Grüße — ✓\r\n', 'utf8'),
  ]);
  const client = await session(small);
  try {
    const reply = await transaction(client, rcpt, body);
    assert.match(reply.raw, /^250 2\.0\.0 /);
  } finally {
    await client.quit();
  }
  const delivered = (await waitFor(
    () => sink.messages.find((m) => m.rcptTo.includes(rcpt)),
    15_000,
    'delivery',
  ))!;
  const tail = delivered.data.subarray(delivered.data.length - body.length);
  assert.ok(tail.equals(body), `delivered:\n${delivered.data.toString('latin1')}`);
});

test('a message over smtp.max_message_size gets 552 5.3.4, declared or not', async () => {
  const rcpt = uniqueRcpt('big');
  const client = await session(small);
  try {
    const declared = await client.command('MAIL FROM:<sender@example.com> SIZE=20000');
    assert.match(declared.raw, /^552 5\.3\.4 /);
    const big = `Subject: big\r\n\r\n${`${'x'.repeat(78)}\r\n`.repeat(200)}`;
    const reply = await transaction(client, rcpt, big);
    assert.match(reply.raw, /^552 5\.3\.4 /);
    assert.equal((await client.command('NOOP')).code, 250);
  } finally {
    await client.quit();
  }
  await nothingQueuedFor(small, rcpt);
  await stillWorks(small);
});

test('a 1 MB header line and an over-large header section get 552 5.3.4', async () => {
  const rcptLine = uniqueRcpt('longline');
  const rcptSection = uniqueRcpt('bighead');
  const client = await session(roomy);
  try {
    const line = await transaction(client, rcptLine, `Subject: ${'x'.repeat(1024 * 1024)}\r\n\r\nbody\r\n`);
    assert.match(line.raw, /^552 5\.3\.4 /);
    // 2000 short fields: about 140 KB of header, over the 100 KiB default, no line over any limit.
    const fields = Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: ${'y'.repeat(50)}\r\n`).join('');
    const section = await transaction(client, rcptSection, `${fields}Subject: many\r\n\r\nbody\r\n`);
    assert.match(section.raw, /^552 5\.3\.4 /);
    assert.match(section.raw, /header/i);
  } finally {
    await client.quit();
  }
  await nothingQueuedFor(roomy, rcptLine);
  await nothingQueuedFor(roomy, rcptSection);
  await stillWorks(roomy);
});

test('an invalid X-MSYS-API header gets 550 5.6.0 naming what is wrong', async () => {
  const cases: Array<[string, RegExp]> = [
    ['{"campaign_id": "a", ', /X-MSYS-API.*JSON/],
    [`{"campaign_id": "${'c'.repeat(65)}"}`, /X-MSYS-API.*campaign_id/],
    ['{"tags": "not-an-array"}', /X-MSYS-API.*tags/],
    ['{"metadata": [1, 2]}', /X-MSYS-API.*metadata/],
  ];
  const rcpts: string[] = [];
  const client = await session(small);
  try {
    for (const [value, names] of cases) {
      const rcpt = uniqueRcpt('msys');
      rcpts.push(rcpt);
      const reply = await transaction(client, rcpt, `X-MSYS-API: ${value}\r\nSubject: msys\r\n\r\nbody\r\n`);
      assert.match(reply.raw, /^550 5\.6\.0 /, `${value}: ${reply.raw}`);
      assert.match(reply.raw, names, `${value}: ${reply.raw}`);
    }
  } finally {
    await client.quit();
  }
  for (const rcpt of rcpts) await nothingQueuedFor(small, rcpt);
  await stillWorks(small);
});

test('X-MSYS-API nested 5,000 levels deep gets 550 5.6.0 naming the field (not a 451 retried for ever); the log says why', async () => {
  const rcpt = uniqueRcpt('deep');
  const metadata = `${'{"k":'.repeat(4999)}{"k":1}${'}'.repeat(4999)}`;
  const client = await session(roomy);
  try {
    const reply = await transaction(
      client,
      rcpt,
      `X-MSYS-API: {"metadata":${metadata}}\r\nSubject: deep\r\n\r\nbody\r\n`,
    );
    assert.match(reply.raw, /^550 5\.6\.0 X-MSYS-API: metadata nests too deep/, reply.raw);
    // The same session goes on.
    assert.equal((await client.command('RSET')).code, 250);
  } finally {
    await client.quit();
  }
  await waitFor(
    () =>
      /"reply":"550 5\.6\.0 X-MSYS-API: metadata nests too deep[^"]*","msg":"message refused"/.test(
        roomy.output(),
      ),
    5_000,
    'the refusal logged with its reason',
  );
  await nothingQueuedFor(roomy, rcpt);
  await stillWorks(roomy);
});

test('recipients past smtp.max_recipients get 452 4.5.3; the accepted ones are delivered', async () => {
  const rcpts = [1, 2, 3, 4].map(() => uniqueRcpt('many'));
  const client = await session(small);
  let id: string | undefined;
  try {
    assert.equal((await client.command('MAIL FROM:<sender@example.com>')).code, 250);
    for (const rcpt of rcpts.slice(0, 3)) assert.equal((await client.command(`RCPT TO:<${rcpt}>`)).code, 250);
    const fourth = await client.command(`RCPT TO:<${rcpts[3]}>`);
    assert.match(fourth.raw, /^452 4\.5\.3 /);
    assert.equal((await client.command('DATA')).code, 354);
    client.write('Subject: three of four\r\n\r\nbody\r\n');
    const reply = await client.command('.');
    assert.match(reply.raw, /^250 2\.0\.0 /);
    id = queuedId(reply.raw);
  } finally {
    await client.quit();
  }
  const delivered = (await waitFor(
    () => sink.messages.find((m) => id !== undefined && m.text.includes(` id ${id}`)),
    15_000,
    'delivery',
  ))!;
  assert.deepEqual(delivered.rcptTo.sort(), rcpts.slice(0, 3).sort());
  await nothingQueuedFor(small, rcpts[3]!);
});

test('binary junk right after connect gets a reply with an enhanced code; the server stays up', async () => {
  const client = await RawSmtp.connect(small.smtpPort);
  try {
    // At once, without waiting for the greeting: what a TLS ClientHello or a confused client would
    // send. The 220 goes out as the client connects (no greet pause by default), so it may come
    // first; the answer to the junk follows it.
    client.write(
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01, 0x00, 0xfe, 0x80, 0x0d, 0x0a, 0xc3, 0x28, 0x0d, 0x0a]),
    );
    let reply = await client.read();
    if (reply.code === 220) reply = await client.read();
    assert.match(reply.raw, ENHANCED, reply.raw);
    assert.ok(reply.code === 421 || reply.code >= 500, reply.raw);
  } finally {
    await client.quit();
  }
  await stillWorks(small);
});

/** The JSON log lines a process wrote. */
function logLines(sluice: SluiceProcess): Array<{ level: number; msg: string; session_id?: string }> {
  return sluice
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string; session_id?: string });
}

test('a client that hangs up mid-DATA leaves nothing delivered, nothing in the spool, and one info line', async () => {
  await waitFor(() => spoolFiles(roomy).length === 0, 15_000, 'an empty spool to start from');
  const rcpt = uniqueRcpt('cut');
  const client = await session(roomy);
  assert.equal((await client.command('MAIL FROM:<sender@example.com>')).code, 250);
  assert.equal((await client.command(`RCPT TO:<${rcpt}>`)).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  // On the node without the small size limit, past the spool's 64 KB write buffer: the partial
  // message reaches its file before the cut.
  client.write(`Subject: cut short\r\n\r\n${'the first half of the body\r\n'.repeat(4000)}and then`);
  await waitFor(() => spoolFiles(roomy).length === 1, 5_000, 'the message being spooled');
  client.destroy();
  await client.closed;
  await waitFor(() => spoolFiles(roomy).length === 0, 5_000, 'the partial spool file removed');
  await nothingQueuedFor(roomy, rcpt);

  // A second one, cut after a few bytes (before anything reached the spool file).
  const early = await session(roomy);
  assert.equal((await early.command('MAIL FROM:<sender@example.com>')).code, 250);
  assert.equal((await early.command(`RCPT TO:<${uniqueRcpt('cut-early')}>`)).code, 250);
  assert.equal((await early.command('DATA')).code, 354);
  early.write('Subject: cut early\r\n\r\nonly');
  await sleep(200);
  early.destroy();
  await early.closed;

  // Any client can do this at will: an info line each, never an error with a stack trace.
  const cuts = await waitFor(
    () => {
      const found = logLines(roomy).filter(
        (l) => l.msg === 'client disconnected during DATA; message dropped',
      );
      return found.length === 2 ? found : null;
    },
    5_000,
    'an info line per cut',
  );
  assert.deepEqual(
    cuts!.map((l) => l.level),
    [30, 30],
  );
  assert.deepEqual(
    logLines(roomy).filter((l) => l.level >= 50),
    [],
    'nothing at error level',
  );
  await stillWorks(roomy);
  // Delivered messages leave the spool too; whatever the cut session left would stay.
  await waitFor(() => spoolFiles(roomy).length === 0, 5_000, 'an empty spool at the end');
});
