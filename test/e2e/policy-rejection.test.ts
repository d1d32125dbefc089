/**
 * Specifies that a message refused at the end of DATA is visible in the events, not only in the
 * sender's SMTP transcript: each recipient gets a `policy_rejection` event whose error_code and
 * raw_reason are the reply the client got (an invalid X-MSYS-API, an oversized message), and no
 * injection event is recorded for it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { searchEvents, swaks } from '../harness/clients.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;

before(async () => {
  sluice = await startSluice({ overrides: { 'smtp.max_message_size': 20_000 } });
});

after(async () => {
  await sluice.stop();
});

test('an invalid X-MSYS-API gives 550 5.6.0 and a policy_rejection event per recipient', async () => {
  const data = Buffer.from(
    'From: app@example.com\r\nSubject: bad api\r\nX-MSYS-API: {"campaign_id": 42}\r\n\r\nbody\r\n',
  );
  const sent = await swaks({
    port: sluice.smtpPort,
    from: 'app@example.com',
    to: ['a@rej.example', 'b@rej.example'],
    data,
  });
  assert.notEqual(sent.code, 0);
  assert.match(sent.stdout, /550 5\.6\.0 X-MSYS-API: campaign_id/);
  const rejected = await searchEvents(sluice.dataDir, { type: 'policy_rejection' });
  const mine = rejected.filter((e) => String(e.rcpt_to).endsWith('@rej.example'));
  assert.deepEqual(mine.map((e) => e.rcpt_to).sort(), ['a@rej.example', 'b@rej.example']);
  for (const event of mine) {
    assert.equal(event.error_code, '550');
    assert.match(String(event.raw_reason), /^550 5\.6\.0 X-MSYS-API: campaign_id/);
    assert.equal(event.msg_from, 'app@example.com');
  }
  const injected = await searchEvents(sluice.dataDir, { type: 'injection' });
  assert.equal(injected.filter((e) => String(e.rcpt_to).endsWith('@rej.example')).length, 0);
});

test('an oversized message gives 552 5.3.4 and a policy_rejection event', async () => {
  const data = Buffer.from(`From: app@example.com\r\nSubject: big\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(400));
  const sent = await swaks({
    port: sluice.smtpPort,
    from: 'app@example.com',
    to: ['big@size.example'],
    data,
  });
  assert.match(sent.stdout, /552 5\.3\.4 /);
  const [event] = await searchEvents(sluice.dataDir, {
    type: 'policy_rejection',
    recipient: 'big@size.example',
  });
  assert.ok(event, 'the refusal is an event');
  assert.equal(event.error_code, '552');
});
