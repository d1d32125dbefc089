/**
 * Specifies what follows a bounce in a real `sluice serve` relaying to the scriptable fault sink:
 * the bounce event carries bounce_class and raw_reason; the envelope sender gets an RFC 3464 DSN
 * (multipart/report; report-type=delivery-status, parsed with mailparser at the sink) sent from
 * <>, with the per-message and per-recipient fields and the original headers; a message from <>
 * gets no DSN; a hard bounce suppresses the recipient, so later mail to it is refused at RCPT with
 * 550 5.7.1 and recorded as policy_rejection; a soft bounce (mailbox full) does not suppress; with
 * `bounces.dsn: false` there are events and suppression but no DSN; config rules reclassify.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ParsedMail, simpleParser } from 'mailparser';
import { searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import { type FaultScript, type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const SCRIPT: FaultScript = (rcpt) => {
  if (rcpt.startsWith('nobody'))
    return {
      kind: 'reply',
      code: 550,
      text: '5.1.1 The email account that you tried to reach does not exist',
    };
  if (rcpt.startsWith('full'))
    return {
      kind: 'reply',
      code: 552,
      text: '5.2.2 The email account that you tried to reach is over quota',
    };
  if (rcpt.startsWith('content'))
    return { kind: 'reply', code: 554, text: '5.6.0 Content refused', phase: 'data' };
  return { kind: 'accept' };
};

let sink: FaultSink;
let sluice: SluiceProcess;
let quiet: SluiceProcess;

before(async () => {
  sink = await startFaultSink(SCRIPT);
  const relay = { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, 'smtp.hostname': 'mx.sluice.test' };
  sluice = await startSluice({ overrides: relay });
  quiet = await startSluice({
    overrides: {
      ...relay,
      'bounces.dsn': false,
      'bounces.rules': JSON.stringify([{ text: 'over quota', class: 10 }]),
    },
  });
});

after(async () => {
  await sluice?.stop();
  await quiet?.stop();
  await sink?.stop();
  for (const s of [sluice, quiet]) if (s) rmSync(s.dataDir, { recursive: true, force: true });
});

async function send(via: SluiceProcess, from: string, to: string[], subject: string) {
  const data = Buffer.from(
    `From: App <app@example.com>\r\nTo: ${to.join(', ')}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.com>\r\n\r\nHello\r\n`,
  );
  return await swaks({ port: via.smtpPort, from, to, data });
}

async function eventsOf(via: SluiceProcess, id: string, done: (e: Record<string, unknown>[]) => boolean) {
  return (await waitFor(
    async () => {
      const events = await searchEvents(via.dataDir, { messageId: id });
      return done(events) ? events : undefined;
    },
    20_000,
    `events of ${id}`,
  ))!;
}

const spoolGone = (via: SluiceProcess, id: string) =>
  !existsSync(path.join(via.dataDir, 'spool', 'queue', id));

interface Dsn {
  raw: string;
  mail: ParsedMail;
  mailFrom: string;
  rcptTo: string[];
  /** The report's parts by content type, split at the boundary mailparser found. */
  parts: Map<string, string>;
}

/** mailparser reads message/delivery-status as text; the part boundaries are checked from its boundary. */
function partsOf(raw: string, mail: ParsedMail): Map<string, string> {
  const type = mail.headers.get('content-type') as { value: string; params: Record<string, string> };
  assert.equal(type.value, 'multipart/report');
  assert.equal(type.params['report-type'], 'delivery-status');
  const parts = new Map<string, string>();
  const sections = raw.split(`--${type.params.boundary}`).slice(1, -1);
  for (const section of sections) {
    const split = section.indexOf('\r\n\r\n');
    const contentType = /^Content-Type: ([^;\r\n]+)/im.exec(section.slice(0, split))?.[1] ?? '';
    parts.set(contentType.toLowerCase(), section.slice(split + 4));
  }
  return parts;
}

async function dsnFor(subject: string): Promise<Dsn> {
  const message = (await waitFor(
    () => sink.messages.find((m) => m.mailFrom === '' && m.text.includes(`Subject: ${subject}`)),
    20_000,
    `DSN for "${subject}"`,
  ))!;
  const mail = await simpleParser(message.data);
  return {
    raw: message.text,
    mail,
    mailFrom: message.mailFrom,
    rcptTo: message.rcptTo,
    parts: partsOf(message.text, mail),
  };
}

describe('DSNs', () => {
  test('a 550 5.1.1 bounce sends one RFC 3464 DSN from <> to the envelope sender', async () => {
    const sent = await send(
      sluice,
      'sender@example.com',
      ['nobody@dsn.example', 'ok@dsn.example'],
      'dsn one',
    );
    assert.ok(sent.queuedId, sent.stdout);
    const events = await eventsOf(
      sluice,
      sent.queuedId,
      (e) => e.some((x) => x.type === 'bounce') && e.some((x) => x.type === 'delivery'),
    );
    const bounce = events.find((e) => e.type === 'bounce')!;
    assert.equal(bounce.bounce_class, '10');
    assert.equal(bounce.error_code, '550');
    assert.match(String(bounce.raw_reason), /^550 5\.1\.1 The email account/);

    const dsn = await dsnFor('dsn one');
    assert.equal(dsn.mailFrom, '');
    assert.deepEqual(dsn.rcptTo, ['sender@example.com']);
    assert.match(dsn.raw, /Content-Type: multipart\/report;[\s\S]*report-type=delivery-status/i);
    assert.match(dsn.raw, /^Auto-Submitted: auto-replied\r?$/im);
    assert.equal(dsn.mail.subject, 'Undelivered Mail Returned to Sender');
    assert.equal(dsn.mail.from?.value[0]?.address, 'MAILER-DAEMON@mx.sluice.test');
    assert.match(dsn.mail.text ?? '', /<nobody@dsn\.example>: 550 5\.1\.1 The email account/);
    assert.deepEqual([...dsn.parts.keys()], ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
    const fields = dsn.parts.get('message/delivery-status')!;
    assert.ok(
      dsn.mail.text?.includes('Final-Recipient: rfc822; nobody@dsn.example'),
      'mailparser reads the fields',
    );
    assert.match(fields, /^Reporting-MTA: dns; mx\.sluice\.test\r$/m);
    assert.match(fields, /^Arrival-Date: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} \+0000\r$/m);
    assert.match(fields, /^Final-Recipient: rfc822; nobody@dsn\.example\r$/m);
    assert.match(fields, /^Action: failed\r$/m);
    assert.match(fields, /^Status: 5\.1\.1\r$/m);
    assert.match(fields, /^Remote-MTA: dns; 127\.0\.0\.1\r$/m);
    assert.match(
      fields,
      /^Diagnostic-Code: smtp; 550 5\.1\.1 The email account that you tried to reach does not exist\r$/m,
    );
    assert.doesNotMatch(fields, /ok@dsn\.example/, 'the delivered recipient is not in the DSN');
    const headers = dsn.mail.attachments.find((a) => a.contentType === 'text/rfc822-headers');
    assert.ok(headers, 'mailparser sees the original headers as an attachment');
    const original = headers.content.toString('utf8');
    assert.match(original, /^Subject: dsn one\r$/m);
    assert.match(original, /^Message-ID: <dsnone@example\.com>\r$/m);
    assert.doesNotMatch(original, /Hello/, 'headers only, not the body');
    assert.equal(
      sink.messages.filter((m) => m.mailFrom === '' && m.text.includes('Subject: dsn one')).length,
      1,
    );
  });

  test('a refusal after DATA and a soft class (mailbox full) bounce with their own status', async () => {
    const sent = await send(sluice, 'sender2@example.com', ['full@dsn.example'], 'dsn full');
    const events = await eventsOf(sluice, sent.queuedId!, (e) => e.some((x) => x.type === 'bounce'));
    assert.equal(events.find((e) => e.type === 'bounce')!.bounce_class, '22');
    const dsn = await dsnFor('dsn full');
    assert.match(dsn.parts.get('message/delivery-status')!, /^Status: 5\.2\.2\r$/m);

    const refused = await send(sluice, 'sender2@example.com', ['content@dsn.example'], 'dsn content');
    const after = await eventsOf(sluice, refused.queuedId!, (e) => e.some((x) => x.type === 'bounce'));
    assert.equal(after.find((e) => e.type === 'bounce')!.error_code, '554');
    const second = await dsnFor('dsn content');
    assert.match(second.raw, /Status: 5\.6\.0/);
  });

  test('a bounced message from <> gets no DSN', async () => {
    const sent = await send(sluice, '<>', ['nobody-null@dsn.example'], 'null sender');
    assert.ok(sent.queuedId, sent.stdout);
    const events = await eventsOf(sluice, sent.queuedId, (e) => e.some((x) => x.type === 'bounce'));
    assert.equal(events.find((e) => e.type === 'injection')!.msg_from, '', 'sent with MAIL FROM:<>');
    // The DSN, if any, is spooled before the message leaves the spool.
    await waitFor(() => spoolGone(sluice, sent.queuedId!), 20_000, 'message to leave the spool');
    const dsns = await searchEvents(sluice.dataDir, { type: 'injection' });
    assert.equal(
      dsns.filter((e) => e.subject === 'Undelivered Mail Returned to Sender' && e.rcpt_to === '').length,
      0,
    );
    assert.ok(!sink.messages.some((m) => m.text.includes('Subject: null sender')));
  });
});

describe('suppression after hard bounces', () => {
  test('a hard bounce suppresses; the next message to the recipient gets 550 5.7.1 at RCPT and a policy_rejection', async () => {
    const first = await send(sluice, 'app@example.com', ['nobody-hard@supp.example'], 'hard one');
    await eventsOf(sluice, first.queuedId!, (e) => e.some((x) => x.type === 'bounce'));
    await waitFor(() => spoolGone(sluice, first.queuedId!), 20_000, 'first message to leave the spool');

    const listed = await sluiceCli(['suppressions', 'list', '-o', `data_dir=${sluice.dataDir}`, '--json']);
    const records = JSON.parse(listed.stdout).records as Array<Record<string, string>>;
    const entry = records.find((r) => r.recipient === 'nobody-hard@supp.example');
    assert.ok(entry, listed.stdout);
    assert.equal(entry.source, 'Bounce Rule');
    assert.equal(entry.type, 'non_transactional');

    const second = await send(sluice, 'app@example.com', ['nobody-hard@supp.example'], 'hard two');
    assert.equal(second.queuedId, undefined, 'refused, not queued');
    assert.ok(
      second.serverLines.some((l) =>
        /^550 5\.7\.1 Recipient address <nobody-hard@supp\.example> is on the suppression list/.test(l),
      ),
      second.serverLines.join('\n'),
    );
    const rejections = await waitFor(async () => {
      const found = await searchEvents(sluice.dataDir, {
        type: 'policy_rejection',
        recipient: 'nobody-hard@supp.example',
      });
      return found.length > 0 ? found : undefined;
    });
    assert.equal(rejections![0]!.error_code, '550');
  });

  test('a soft bounce (22, mailbox full) does not suppress', async () => {
    const sent = await send(sluice, 'app@example.com', ['full-soft@supp.example'], 'soft one');
    await eventsOf(sluice, sent.queuedId!, (e) => e.some((x) => x.type === 'bounce'));
    await waitFor(() => spoolGone(sluice, sent.queuedId!), 20_000, 'message to leave the spool');
    const listed = await sluiceCli([
      'suppressions',
      'list',
      '-o',
      `data_dir=${sluice.dataDir}`,
      '--search',
      'full-soft',
      '--json',
    ]);
    assert.deepEqual(JSON.parse(listed.stdout).records, []);
  });
});

describe('bounces.dsn: false and bounces.rules', () => {
  test('events and suppression, no DSN; a config rule turns "over quota" into class 10', async () => {
    const sent = await send(quiet, 'quiet@example.com', ['full-quiet@rules.example'], 'quiet one');
    const events = await eventsOf(quiet, sent.queuedId!, (e) => e.some((x) => x.type === 'bounce'));
    assert.equal(
      events.find((e) => e.type === 'bounce')!.bounce_class,
      '10',
      'the config rule wins over the built-in 22',
    );
    await waitFor(() => spoolGone(quiet, sent.queuedId!), 20_000, 'message to leave the spool');
    const injections = await searchEvents(quiet.dataDir, { type: 'injection' });
    assert.deepEqual(
      injections.map((e) => e.subject),
      ['quiet one'],
      'no DSN was injected',
    );
    const listed = await sluiceCli(['suppressions', 'list', '-o', `data_dir=${quiet.dataDir}`, '--json']);
    assert.equal(JSON.parse(listed.stdout).records[0].recipient, 'full-quiet@rules.example');
  });
});

describe('suppression type decided by X-MSYS-API', () => {
  test('a transactional message skips recipients suppressed for transactional mail, after DATA', async () => {
    const added = await sluiceCli([
      'suppressions',
      'add',
      'receipts-off@supp.example',
      '--type',
      'transactional',
      '-o',
      `data_dir=${sluice.dataDir}`,
    ]);
    assert.equal(added.code, 0, added.stderr);
    const header = 'X-MSYS-API: {"options":{"transactional":true}}';
    const data = (to: string) =>
      Buffer.from(`From: app@example.com\r\n${header}\r\nTo: ${to}\r\nSubject: receipt\r\n\r\nHello\r\n`);
    // Not transactional by default: the transactional entry does not stop it at RCPT.
    const both = ['receipts-off@supp.example', 'receipts-on@supp.example'];
    const mixed = await swaks({ port: sluice.smtpPort, from: 'app@example.com', to: both, data: data('x') });
    assert.ok(mixed.queuedId, mixed.stdout);
    const rejected = await waitFor(async () => {
      const found = await searchEvents(sluice.dataDir, {
        messageId: mixed.queuedId!,
        type: 'policy_rejection',
      });
      return found.length > 0 ? found : undefined;
    });
    assert.deepEqual(
      rejected!.map((e) => e.rcpt_to),
      ['receipts-off@supp.example'],
    );
    await waitFor(() => sink.messages.some((m) => m.rcptTo.includes('receipts-on@supp.example')));
    assert.ok(!sink.messages.some((m) => m.rcptTo.includes('receipts-off@supp.example')));

    const alone = await swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['receipts-off@supp.example'],
      data: data('receipts-off@supp.example'),
    });
    assert.equal(alone.queuedId, undefined);
    assert.ok(
      alone.serverLines.some((l) =>
        /^550 5\.7\.1 Recipient address <receipts-off@supp\.example> is on the suppression list/.test(l),
      ),
      alone.serverLines.join('\n'),
    );
  });
});
