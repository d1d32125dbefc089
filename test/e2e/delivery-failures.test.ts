/**
 * Specifies what a real `sluice serve` records when the next hop (a recording sink) refuses: a
 * permanent 550 5.1.1 at RCPT is a bounce event (bounce_class 10, error_code 550, raw_reason with the
 * peer's reply) and the message leaves the spool; a temporary 451 is a delay event (num_retries "0"),
 * retried on the retry schedule until the sink accepts, then a delivery event; in a message with both
 * a refused and an accepted recipient each gets its own outcome; a 554 after DATA bounces; a next hop
 * that refuses the TCP connection is a delay event and the message stays queued for the next attempt.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { searchEvents, swaks } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
/** How often the sink has been offered each recipient. */
const offered = new Map<string, number>();

before(async () => {
  sink = await startSink({
    replyFor(rcpt) {
      const count = (offered.get(rcpt) ?? 0) + 1;
      offered.set(rcpt, count);
      if (rcpt.startsWith('nobody')) return [550, '5.1.1 No such user'];
      if (rcpt.startsWith('later') && count === 1) return [451, '4.3.0 Try again later'];
      return undefined;
    },
    dataReply: (message) =>
      /Subject: refuse me/.test(message.text) ? [554, '5.6.0 Content refused'] : undefined,
  });
  sluice = await startSluice({
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, 'delivery.retry_schedule': '[1s]' },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

async function send(to: string[], subject = 'outcome', via = sluice): Promise<string> {
  const result = await swaks({
    port: via.smtpPort,
    from: 'app@example.com',
    to,
    data: Buffer.from(`From: app@example.com\r\nSubject: ${subject}\r\n\r\nbody\r\n`),
  });
  assert.equal(result.code, 0, result.stdout);
  assert.ok(result.queuedId, result.stdout);
  return result.queuedId;
}

/** Events of one message once `done` says they are complete. */
async function eventsOf(id: string, done: (events: Record<string, unknown>[]) => boolean, via = sluice) {
  return (await waitFor(
    async () => {
      const events = await searchEvents(via.dataDir, { messageId: id });
      return done(events) ? events : undefined;
    },
    15_000,
    `events of ${id}`,
  ))!;
}

function spoolHas(id: string, via = sluice): boolean {
  return readdirSync(path.join(via.dataDir, 'spool', 'queue')).some((name) => name.startsWith(id));
}

test('550 5.1.1 at the sink is a bounce event with class 10, and the message leaves the spool', async () => {
  const id = await send(['nobody@failures.example']);
  const events = await eventsOf(id, (e) => e.some((x) => x.type === 'bounce'));
  const bounce = events.find((e) => e.type === 'bounce')!;
  assert.equal(bounce.rcpt_to, 'nobody@failures.example');
  assert.equal(bounce.bounce_class, '10');
  assert.equal(bounce.error_code, '550');
  assert.match(String(bounce.raw_reason), /550 5\.1\.1 No such user/);
  assert.equal(bounce.num_retries, '0');
  assert.ok(!events.some((e) => e.type === 'delivery' || e.type === 'delay'));
  await waitFor(() => !spoolHas(id), 5_000, 'the bounced message removed from the spool');
  assert.equal(offered.get('nobody@failures.example'), 1, 'a permanent failure is not retried');
});

test('451 at the sink is a delay event with num_retries "0", then a delivery once it accepts', async () => {
  const id = await send(['later@failures.example']);
  const events = await eventsOf(id, (e) => e.some((x) => x.type === 'delivery'));
  const delay = events.find((e) => e.type === 'delay');
  assert.ok(delay, JSON.stringify(events));
  assert.equal(delay.num_retries, '0');
  assert.equal(delay.error_code, '451');
  assert.match(String(delay.raw_reason), /451 4\.3\.0 Try again later/);
  const delivery = events.find((e) => e.type === 'delivery')!;
  assert.equal(delivery.num_retries, '1');
  assert.ok(String(delivery.timestamp) > String(delay.timestamp));
  assert.equal(events.filter((e) => e.type === 'delivery').length, 1);
  const received = sink.messages.filter((m) => m.rcptTo.includes('later@failures.example'));
  assert.equal(received.length, 1, 'delivered once');
  await waitFor(() => !spoolHas(id), 5_000, 'the delivered message removed from the spool');
});

test('in one message, a refused recipient bounces while an accepted one is delivered', async () => {
  const id = await send(['nobody2@mixed.example', 'someone@mixed.example']);
  const events = await eventsOf(id, (e) => e.filter((x) => x.type !== 'injection').length >= 2);
  const outcome = Object.fromEntries(
    events.filter((e) => e.type !== 'injection').map((e) => [e.rcpt_to as string, e.type]),
  );
  assert.deepEqual(outcome, { 'nobody2@mixed.example': 'bounce', 'someone@mixed.example': 'delivery' });
  const received = sink.messages.find((m) => m.text.includes(` id ${id}`));
  assert.deepEqual(received?.rcptTo, ['someone@mixed.example']);
});

test('554 after DATA bounces every recipient of the message', async () => {
  const id = await send(['a@data.example', 'b@data.example'], 'refuse me');
  const events = await eventsOf(id, (e) => e.filter((x) => x.type === 'bounce').length >= 2);
  for (const bounce of events.filter((e) => e.type === 'bounce')) {
    assert.equal(bounce.error_code, '554');
    assert.match(String(bounce.raw_reason), /554 5\.6\.0 Content refused/);
  }
  assert.ok(!events.some((e) => e.type === 'delivery'));
});

test('a next hop that refuses the connection is a delay event, and the message stays queued', async () => {
  const nowhere = await freePort();
  const stranded = await startSluice({
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${nowhere}`, 'delivery.retry_schedule': '[1h]' },
  });
  try {
    const id = await send(['patient@unreachable.example'], 'outcome', stranded);
    const events = await eventsOf(id, (e) => e.some((x) => x.type === 'delay'), stranded);
    const delay = events.find((e) => e.type === 'delay')!;
    assert.equal(delay.num_retries, '0');
    assert.match(String(delay.raw_reason), new RegExp(`127\\.0\\.0\\.1.*${nowhere}`));
    assert.ok(!events.some((e) => e.type === 'bounce' || e.type === 'delivery'));
    assert.ok(spoolHas(id, stranded), 'still in the spool for the next attempt');
  } finally {
    assert.equal(await stranded.stop(), 0, 'a clean exit with the message still queued');
    rmSync(stranded.dataDir, { recursive: true, force: true });
  }
});
