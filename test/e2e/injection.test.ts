/**
 * Specifies injection on the smtp listener from a trusted network (127.0.0.1, trusted by default),
 * end to end with three real clients (nodemailer, swaks, Python smtplib) against a real `sluice serve`
 * relaying to a recording sink: the sink receives the exact envelope, and the delivered bytes are the
 * original message with X-MSYS-API removed and Sluice's Received header prepended, every other byte
 * unchanged (dot-stuffed lines, folded headers, 8-bit text included). Each recipient gets an injection
 * and a delivery event carrying the queued id from the 250 reply and the X-MSYS-API values.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { nodemailerSend, pythonSmtp, queuedId, searchEvents, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type ReceivedMessage, type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;

before(async () => {
  sink = await startSink();
  sluice = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

const MSYS = {
  campaign_id: 'spring-sale',
  tags: ['welcome', 'e2e'],
  metadata: { customer: 42, plan: 'pro' },
};

/** A message meant to trip careless handling: folded headers, dot lines, 8-bit text, X-MSYS-API mid-header. */
function originalMessage(client: string): Buffer {
  const lines = [
    `From: "Shop Team" <shop@example.com>`,
    'To: Alice <alice@one.example>, bob@two.example',
    `Subject: =?UTF-8?B?${Buffer.from(`Grüße from ${client}`).toString('base64')}?=`,
    `X-MSYS-API: {"campaign_id": "${MSYS.campaign_id}",`,
    `\t"tags": ["welcome", "e2e"], "metadata": {"customer": 42, "plan": "pro"}}`,
    'X-Folded: first part',
    '   second part',
    `Message-ID: <${client}.e2e@example.com>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `Hello from ${client}.`,
    '.a line that starts with a dot',
    '.',
    '..',
    'Grüße, naïve café — 8-bit bytes stay as they are',
    'X-MSYS-API: {"campaign_id": "in-the-body"} (body text, not a header)',
    '',
    'last line',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** The original without its X-MSYS-API field (both of its lines). */
function expectedDelivery(original: Buffer): Buffer {
  const text = original.toString('latin1');
  const headerEnd = text.indexOf('\r\n\r\n');
  const header = text.slice(0, headerEnd + 2).replace(/^X-MSYS-API:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/im, '');
  return Buffer.from(header + text.slice(headerEnd + 2), 'latin1');
}

/** Splits off the first header field (Sluice's Received, continuation lines included). */
function splitReceived(data: Buffer): { received: string; rest: Buffer } {
  const text = data.toString('latin1');
  const match = /^Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(text);
  assert.ok(match, `delivered message starts with a Received header:\n${text.slice(0, 300)}`);
  return { received: match[0], rest: Buffer.from(text.slice(match[0].length), 'latin1') };
}

const ENVELOPE_TO = ['alice@one.example', 'Bob@Two.Example', 'carol@one.example'];

async function checkInjected(
  client: string,
  helo: string,
  envelope: { from: string; to: string[] },
  reply: string,
  original: Buffer,
) {
  const { from, to } = envelope;
  assert.match(reply, /^(250 )?2\.0\.0 Ok: queued as [0-9a-f]+$/, `${client} reply: ${reply}`);
  const id = queuedId(reply)!;

  const delivered = (await waitFor(
    () => {
      const mine = sink.messages.filter((m) => m.text.includes(` id ${id}`));
      const count = mine.reduce((n, m) => n + m.rcptTo.length, 0);
      return count >= to.length ? mine : undefined;
    },
    20_000,
    `${client}'s message at the sink`,
  ))!;

  // The envelope, exactly: sender as given, every recipient once, case preserved.
  for (const message of delivered) assert.equal(message.mailFrom, from);
  assert.deepEqual(delivered.flatMap((m: ReceivedMessage) => m.rcptTo).sort(), [...to].sort());

  const expected = expectedDelivery(original);
  for (const message of delivered) {
    const { received, rest } = splitReceived(message.data);
    assert.match(
      received,
      new RegExp(`^Received: from ${helo.replace(/\./g, '\\.')} \\(\\[127\\.0\\.0\\.1\\]\\)`),
    );
    assert.match(received, new RegExp(`\\(Sluice\\) with ESMTP id ${id}[;\\r]`));
    assert.ok(
      rest.equals(expected),
      `${client}: delivered bytes differ:\n${rest.toString()}\n---\n${expected}`,
    );
  }

  const events = (await waitFor(
    async () => {
      const found = await searchEvents(sluice.dataDir, { messageId: id });
      return found.filter((e) => e.type === 'delivery').length >= to.length ? found : undefined;
    },
    10_000,
    `${client}'s delivery events`,
  ))!;
  for (const type of ['injection', 'delivery']) {
    const ofType = events.filter((e) => e.type === type);
    assert.deepEqual(
      ofType.map((e) => e.raw_rcpt_to).sort(),
      [...to].sort(),
      `${client}: one ${type} event per recipient`,
    );
    for (const event of ofType) {
      assert.equal(event.message_id, id);
      assert.equal(event.rcpt_to, String(event.raw_rcpt_to).toLowerCase());
      assert.equal(event.campaign_id, MSYS.campaign_id);
      assert.deepEqual(event.rcpt_tags, MSYS.tags);
      assert.deepEqual(event.rcpt_meta, MSYS.metadata);
      assert.equal(event.subject, `Grüße from ${client}`);
      assert.equal(event.msg_from, from);
      assert.equal(event.friendly_from, 'shop@example.com');
      assert.equal(event.api_key_id, null);
      assert.equal(event.ip_address, '127.0.0.1');
    }
  }
  assert.equal(events.length, 2 * to.length, 'no other events for this message');
}

test('nodemailer injects into the smtp listener; the sink gets the exact envelope and bytes', async () => {
  const original = originalMessage('nodemailer');
  const from = 'bounces+nodemailer@example.com';
  const result = await nodemailerSend({ port: sluice.smtpPort, from, to: ENVELOPE_TO, raw: original });
  assert.ok(result.ok, `nodemailer was refused: ${result.response}`);
  // nodemailer itself lowercases the domain of an address before it sends RCPT TO.
  const to = ENVELOPE_TO.map((a) => a.replace(/@.*/, (d) => d.toLowerCase()));
  await checkInjected('nodemailer', 'nodemailer.client.test', { from, to }, result.response, original);
});

test('swaks injects into the smtp listener; the sink gets the exact envelope and bytes', async () => {
  const original = originalMessage('swaks');
  const from = 'bounces+swaks@example.com';
  const result = await swaks({ port: sluice.smtpPort, from, to: ENVELOPE_TO, data: original });
  assert.equal(result.code, 0, `swaks failed:\n${result.stdout}${result.stderr}`);
  const reply = result.serverLines.find((line) => /queued as/.test(line));
  assert.ok(reply, `no queued reply in:\n${result.stdout}`);
  await checkInjected('swaks', 'swaks.client.test', { from, to: ENVELOPE_TO }, reply, original);
});

test('Python smtplib injects into the smtp listener; the sink gets the exact envelope and bytes', async () => {
  const original = originalMessage('python');
  const from = 'bounces+python@example.com';
  const steps = await pythonSmtp({ port: sluice.smtpPort, from, to: ENVELOPE_TO, data: original });
  const data = steps.find((s) => s.step === 'data');
  assert.ok(data && data.code === 250, `smtplib session: ${JSON.stringify(steps)}`);
  await checkInjected(
    'python',
    'python.client.test',
    { from, to: ENVELOPE_TO },
    `250 ${data.text}`,
    original,
  );
});
