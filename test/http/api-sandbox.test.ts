/**
 * Specifies options.sandbox against the real `sluice serve` binary: a sandbox message never
 * reaches its recipient. Without transmissions.sandbox_relay it is generated and recorded
 * (injection, then a delivery event from the host "sandbox", marked `sandbox: true`) and dropped: the sink that gets every
 * other message gets nothing of it, whether it came over HTTP or over SMTP with X-MSYS-API. With a
 * sandbox relay it goes there, and only there. The transmissions section applies on SIGHUP: a
 * sandbox relay set by a reload takes the next sandbox message, a new max_schedule_ahead the next
 * request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { type ApiCall, apiClient, type Json } from '../harness/api-client.js';
import { createKey, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const stop of cleanup.reverse()) await stop();
});

async function setup(overrides: Record<string, string> = {}, configFile?: string) {
  const sink = await startSink();
  cleanup.push(() => sink.stop());
  const sluice: SluiceProcess = await startSluice({
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, ...overrides },
    ...(configFile ? { configFile } : {}),
  });
  cleanup.push(() => sluice.stop());
  const key = await createKey(sluice.dataDir, {
    label: 'sandbox',
    grants: ['transmissions/modify', 'message_events/view'],
  });
  const api: ApiCall = apiClient(sluice.httpPort, key.key);
  const events = async (query: string): Promise<Json[]> =>
    (await api('GET', `/api/v1/events/message?${query}`)).body.results;
  return { sink, sluice, api, events };
}

const content = { from: 'app@sandbox.example', subject: 'test {{n}}', text: 'hello' };

test('without a sandbox relay: recorded, never sent (over HTTP and over SMTP)', async () => {
  const { sink, sluice, api, events } = await setup();
  const sandboxed = await api('POST', '/api/v1/transmissions', {
    campaign_id: 'sandboxed',
    options: { sandbox: true },
    recipients: [{ address: 'real.person@customer.example', substitution_data: { n: 1 } }],
    content,
  });
  assert.equal(sandboxed.status, 200, JSON.stringify(sandboxed.body));
  assert.equal(sandboxed.body.results.total_accepted_recipients, 1);
  const smtp = await swaks({
    port: sluice.smtpPort,
    from: 'app@sandbox.example',
    to: ['other.person@customer.example'],
    data: Buffer.from(
      'From: app@sandbox.example\r\nSubject: smtp sandbox\r\nX-MSYS-API: {"campaign_id":"sandboxed","options":{"sandbox":true}}\r\n\r\nhi\r\n',
    ),
  });
  assert.equal(smtp.code, 0, smtp.stderr);
  // A message sent after them, to the same sink, proves the sink was reachable all along.
  await api('POST', '/api/v1/transmissions', {
    campaign_id: 'control',
    recipients: [{ address: 'control@customer.example', substitution_data: { n: 2 } }],
    content,
  });
  const delivered = (await waitFor(
    async () => {
      const found = await events('events=delivery&campaigns=sandboxed');
      return found.length === 2 ? found : null;
    },
    20_000,
    'the sandbox delivery events',
  ))!;
  for (const event of delivered) {
    assert.equal(event.mx_hostname, 'sandbox', 'delivered to nobody');
    assert.equal(event.sandbox, true);
  }
  assert.equal((await events('events=injection&campaigns=sandboxed')).length, 2);
  await waitFor(
    () => sink.messages.some((m) => m.rcptTo[0] === 'control@customer.example'),
    20_000,
    'control',
  );
  assert.deepEqual(
    sink.messages.map((m) => m.rcptTo[0]),
    ['control@customer.example'],
    'the sink never saw a sandbox message',
  );
});

test('with transmissions.sandbox_relay: sandbox mail goes there and nowhere else', async () => {
  const sandboxSink = await startSink();
  cleanup.push(() => sandboxSink.stop());
  const { sink, api, events } = await setup({
    'transmissions.sandbox_relay': `[127.0.0.1]:${sandboxSink.port}`,
  });
  const answer = await api('POST', '/api/v1/transmissions', {
    campaign_id: 'relayed',
    options: { sandbox: true },
    recipients: [{ address: 'real.person@customer.example', substitution_data: { n: 3 } }],
    content,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  await waitFor(() => sandboxSink.messages.length === 1, 20_000, 'the sandbox relay delivery');
  assert.deepEqual(sandboxSink.messages[0]!.rcptTo, ['real.person@customer.example']);
  assert.match(sandboxSink.messages[0]!.text, /Subject: test 3/);
  const [delivery] = (await waitFor(async () => {
    const found = await events('events=delivery&campaigns=relayed');
    return found.length > 0 ? found : null;
  }))!;
  assert.equal(delivery.mx_hostname, '127.0.0.1');
  assert.equal(delivery.sandbox, true);
  assert.equal(sink.messages.length, 0, 'the real route was never used');
});

test('SIGHUP: a sandbox relay and a schedule bound set by a reload apply to the next message and request', async () => {
  const sandboxSink = await startSink();
  cleanup.push(() => sandboxSink.stop());
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-sandbox-reload-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'sluice.yaml');
  writeFileSync(configFile, 'transmissions:\n  sandbox_relay: null\n');
  const { sink, sluice, api, events } = await setup({}, configFile);
  const send = (n: number) =>
    api('POST', '/api/v1/transmissions', {
      campaign_id: `reload-${n}`,
      options: { sandbox: true },
      recipients: [{ address: 'real.person@customer.example', substitution_data: { n } }],
      content,
    });
  assert.equal((await send(1)).status, 200);
  await waitFor(
    async () => (await events('events=delivery&campaigns=reload-1')).length === 1,
    20_000,
    'the dropped sandbox delivery',
  );
  assert.equal(sandboxSink.messages.length, 0);

  writeFileSync(
    configFile,
    `transmissions:\n  sandbox_relay: "[127.0.0.1]:${sandboxSink.port}"\n  max_schedule_ahead: 1h\n`,
  );
  const reloads = () =>
    sluice
      .output()
      .split('\n')
      .filter((l) => l.includes('"configuration reloaded"'));
  sluice.child.kill('SIGHUP');
  const line = (await waitFor(() => reloads()[0], 15_000, 'the reload'))!;
  assert.deepEqual(JSON.parse(line).applied.sort(), [
    'transmissions.max_schedule_ahead',
    'transmissions.sandbox_relay',
  ]);

  assert.equal((await send(2)).status, 200);
  await waitFor(() => sandboxSink.messages.length === 1, 20_000, 'the sandbox relay delivery');
  assert.match(sandboxSink.messages[0]!.text, /Subject: test 2/);
  assert.equal(sink.messages.length, 0, 'the real route was never used');

  const later = new Date(Date.now() + 2 * 3_600_000).toISOString();
  const tooFar = await api('POST', '/api/v1/transmissions', {
    options: { start_time: later },
    recipients: [{ address: 'real.person@customer.example' }],
    content,
  });
  assert.equal(tooFar.status, 422, JSON.stringify(tooFar.body));
  assert.match(tooFar.body.errors[0].description, /^options\.start_time: must be at most 1 hour ahead/);
});
