/**
 * Specifies delivery against the scriptable fault sink's faults, per recipient and per offer: a 421
 * that closes the channel, a connection dropped at RCPT or during DATA, and a peer that stalls until
 * the command timeout are delay events (with a bounce_class and raw_reason) and are retried until
 * the sink accepts, each message then delivered exactly once; two 4xx then 250 give delay events
 * with num_retries 0 and 1, then a delivery; and consecutive messages to one next hop reuse one
 * connection (counted at the sink).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { searchEvents, swaks } from '../harness/clients.js';
import { type FaultScript, type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const SCRIPT: FaultScript = (rcpt, offer) => {
  const [local] = rcpt.split('@');
  // Two offers fail: a fault on a reused connection is retried once on a fresh one at once.
  if (offer <= 2 && local === 'close421') return { kind: 'close421' };
  if (offer <= 2 && local === 'droprcpt') return { kind: 'drop', phase: 'rcpt' };
  if (offer <= 2 && local === 'dropdata') return { kind: 'drop', phase: 'data' };
  if (offer <= 2 && local === 'stall') return { kind: 'stall', phase: 'data' };
  if (offer <= 2 && local === 'twice') return { kind: 'reply', code: 450, text: '4.2.1 Mailbox busy' };
  return { kind: 'accept' };
};

let sink: FaultSink;
let sluice: SluiceProcess;

before(async () => {
  sink = await startFaultSink(SCRIPT);
  sluice = await startSluice({
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'delivery.retry_schedule': '[1s]',
      'delivery.command_timeout': '2s',
      'delivery.connection_idle_timeout': '60s',
    },
  });
});

after(async () => {
  await sink?.stop();
  await sluice?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

async function send(to: string, subject = to): Promise<string> {
  const data = Buffer.from(`From: app@example.com\r\nSubject: ${subject}\r\n\r\nbody\r\n`);
  const result = await swaks({ port: sluice.smtpPort, from: 'app@example.com', to: [to], data });
  assert.ok(result.queuedId, result.stdout);
  return result.queuedId;
}

async function untilDelivered(id: string) {
  return (await waitFor(
    async () => {
      const events = await searchEvents(sluice.dataDir, { messageId: id });
      return events.some((e) => e.type === 'delivery') ? events.reverse() : undefined;
    },
    30_000,
    `delivery of ${id}`,
  ))!;
}

for (const [local, reason] of [
  ['close421', /421 4\.3\.2 Service shutting down/],
  ['droprcpt', /.+/],
  ['dropdata', /.+/],
  ['stall', /.+/],
] as const) {
  test(`${local}: a delay event, then delivered exactly once`, async () => {
    const to = `${local}@faults.example`;
    const id = await send(to);
    const events = await untilDelivered(id);
    const delay = events.find((e) => e.type === 'delay');
    assert.ok(delay, JSON.stringify(events.map((e) => e.type)));
    assert.match(String(delay.raw_reason), reason);
    assert.ok(
      Number(delay.bounce_class) >= 20 && Number(delay.bounce_class) <= 70,
      String(delay.bounce_class),
    );
    assert.equal(sink.messages.filter((m) => m.rcptTo.includes(to)).length, 1, 'delivered once');
    assert.equal(events.filter((e) => e.type === 'delivery').length, 1);
  });
}

test('two 4xx then 250: delays with num_retries 0 and 1, then a delivery', async () => {
  const id = await send('twice@faults.example');
  const events = await untilDelivered(id);
  const delays = events.filter((e) => e.type === 'delay');
  assert.deepEqual(
    delays.map((e) => [e.num_retries, e.error_code, e.bounce_class]),
    [
      ['0', '450', '20'],
      ['1', '450', '20'],
    ],
  );
  assert.equal(events.find((e) => e.type === 'delivery')!.num_retries, '2');
});

test('consecutive messages to one next hop share one connection', async () => {
  // A fresh hop (another port) so earlier faults' connections do not count.
  const quiet = await startFaultSink();
  const other = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${quiet.port}` } });
  try {
    for (let i = 0; i < 5; i++) {
      const data = Buffer.from(`From: app@example.com\r\nSubject: reuse ${i}\r\n\r\nbody\r\n`);
      const result = await swaks({
        port: other.smtpPort,
        from: 'app@example.com',
        to: [`r${i}@reuse.example`],
        data,
      });
      assert.ok(result.queuedId, result.stdout);
      await waitFor(() => quiet.messages.length === i + 1, 20_000, `message ${i}`);
    }
    assert.equal(quiet.connections(), 1);
  } finally {
    await other.stop();
    await quiet.stop();
    rmSync(other.dataDir, { recursive: true, force: true });
  }
});
