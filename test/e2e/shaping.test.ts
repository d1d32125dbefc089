/**
 * Specifies traffic shaping as configured in a real `sluice serve`: with
 * `destinations.<domain>.max_connections: 1`, ten messages injected at once reach the sink over
 * one connection at a time (the queue parks the rest of that domain instead of blocking other
 * domains), all delivered; with `max_messages_per_minute: 2`, only two of three messages for that
 * domain go out in the first minute, while another domain is not held back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
let dir: string;

before(async () => {
  sink = await startSink();
  dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-shaping-'));
  const config = path.join(dir, 'sluice.yaml');
  writeFileSync(
    config,
    [
      'delivery:',
      '  destinations:',
      '    one.test: {max_connections: 1}',
      '    slow.test: {max_messages_per_minute: 2}',
      '',
    ].join('\n'),
  );
  sluice = await startSluice({
    configFile: config,
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

async function send(to: string, n: number): Promise<void> {
  const data = Buffer.from(`From: app@example.com\r\nSubject: shaped ${n}\r\n\r\nbody\r\n`);
  const result = await swaks({ port: sluice.smtpPort, from: 'app@example.com', to: [to], data });
  assert.equal(result.code, 0, result.stdout);
}

const arrivedFor = (domain: string) =>
  sink.messages.filter((m) => m.rcptTo[0]!.endsWith(`@${domain}`)).length;

test('max_connections 1 for a domain: ten messages, all delivered, never two connections at once', async () => {
  await Promise.all(Array.from({ length: 10 }, (_, n) => send(`u${n}@one.test`, n)));
  await waitFor(() => arrivedFor('one.test') === 10, 20_000, 'ten messages for one.test');
  assert.equal(sink.connections.peak, 1);
});

test('max_messages_per_minute 2: the third waits for the next minute; other domains go on', async () => {
  for (let n = 0; n < 3; n++) await send(`u${n}@slow.test`, n);
  await send('free@other.test', 9);
  await waitFor(
    () => arrivedFor('slow.test') === 2 && arrivedFor('other.test') === 1,
    20_000,
    'two slow, one other',
  );
  // The minute cannot be over yet: the third is still queued, not lost and not sent.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(arrivedFor('slow.test'), 2);
});
