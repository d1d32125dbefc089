/**
 * Specifies readHeaderSection (queue/headers.ts), the console's view of a queued message's
 * headers, on a real spool: fields unfolded and RFC 2047 words decoded, in order, repeats kept;
 * a header section longer than asked is cut and says so; a message without a body separator
 * still shows its fields; an id with no file, a file never committed, and a file whose footer
 * names another message (recycled meanwhile) give null, never another message's headers.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { MessageFacts } from '../../src/core/events.js';
import { newMessageId } from '../../src/core/ids.js';
import { readHeaderSection } from '../../src/queue/headers.js';
import { Spool } from '../../src/queue/spool.js';
import { encodeTrailer, type SpoolEnvelope } from '../../src/queue/spool-format.js';

let dir: string;
let spool: Spool;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-headers-'));
  spool = new Spool(dir);
  await spool.init();
});

after(async () => {
  await spool.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function envelope(id: string): SpoolEnvelope {
  const facts: MessageFacts = {
    message_id: id,
    transmission_id: '1',
    msg_from: 'a@example.test',
    friendly_from: 'a@example.test',
    subject: '',
    msg_size: 0,
    injection_time: new Date().toISOString(),
    recv_method: 'esmtp',
    api_key_id: null,
    client_ip: '127.0.0.1',
    msys: {},
  };
  return { v: 1, mail_from: 'a@example.test', rcpts: ['b@example.test'], facts };
}

async function spoolText(text: string): Promise<string> {
  const id = newMessageId();
  const writer = await spool.createWriter(id);
  await writer.write(Buffer.from(text));
  await writer.commit(envelope(id));
  return id;
}

test('fields unfolded and decoded, in order, repeats kept', async () => {
  const id = await spoolText(
    [
      'Received: from a by b;',
      '\tMon, 1 Jan 2026 00:00:00 +0000',
      'Received: from c by d; Mon, 1 Jan 2026 00:00:01 +0000',
      `Subject: =?UTF-8?B?${Buffer.from('Grüße').toString('base64')}?= =?UTF-8?Q?_aus_Sluice?=`,
      'X-Empty:',
      '',
      'Subject: not a header, the body',
      '',
    ].join('\r\n'),
  );
  const section = await readHeaderSection(spool, id);
  assert.deepEqual(section, {
    fields: [
      { name: 'Received', value: 'from a by b; Mon, 1 Jan 2026 00:00:00 +0000' },
      { name: 'Received', value: 'from c by d; Mon, 1 Jan 2026 00:00:01 +0000' },
      { name: 'Subject', value: 'Grüße aus Sluice' },
      { name: 'X-Empty', value: '' },
    ],
    truncated: false,
  });
});

test('a header section longer than asked is cut and says so; no body separator still shows the fields', async () => {
  const long = await spoolText(`${'X-Pad: '.padEnd(200, 'x')}\r\n`.repeat(50) + '\r\nbody\r\n');
  const cut = await readHeaderSection(spool, long, 1000);
  assert.equal(cut?.truncated, true);
  assert.ok(cut!.fields.length >= 4 && cut!.fields.length <= 5, `${cut!.fields.length} fields`);
  const whole = await spoolText('From: a@example.test\r\nSubject: no body');
  assert.deepEqual(await readHeaderSection(spool, whole), {
    fields: [
      { name: 'From', value: 'a@example.test' },
      { name: 'Subject', value: 'no body' },
    ],
    truncated: false,
  });
});

test('no file, an uncommitted file, or a footer naming another message: null', async () => {
  assert.equal(await readHeaderSection(spool, newMessageId()), null);
  const partial = newMessageId();
  fs.writeFileSync(spool.fileOf(partial), 'Subject: half written\r\n');
  assert.equal(await readHeaderSection(spool, partial), null);
  const other = newMessageId();
  const recycled = newMessageId();
  const bytes = Buffer.from('Subject: someone else\r\n\r\nbody\r\n');
  fs.writeFileSync(
    spool.fileOf(recycled),
    Buffer.concat([bytes, encodeTrailer(bytes.length, { ...envelope(other), spool_id: other })]),
  );
  assert.equal(await readHeaderSection(spool, recycled), null);
});
