/**
 * Specifies `sluice events search` filters through the real CLI, on events a real `sluice serve`
 * recorded for messages injected with swaks (X-MSYS-API campaigns, two senders): --campaign,
 * --from, --transmission-id, --since/--until, --limit narrow the answer; an unknown --type is a
 * usage error listing the valid types; nothing matching says so, and --json then prints [].
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import { type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: FaultSink;
let sluice: SluiceProcess;
const sent: Array<{ id: string; campaign: string; from: string }> = [];

before(async () => {
  sink = await startFaultSink();
  sluice = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  for (const [campaign, from] of [
    ['spring', 'news@shop.example'],
    ['spring', 'billing@shop.example'],
    ['autumn', 'news@shop.example'],
  ] as const) {
    const data = Buffer.from(
      `From: ${from}\r\nSubject: ${campaign}\r\nX-MSYS-API: {"campaign_id":"${campaign}"}\r\n\r\nhello\r\n`,
    );
    const result = await swaks({ port: sluice.smtpPort, from, to: ['reader@events.example'], data });
    assert.ok(result.queuedId, result.stdout);
    sent.push({ id: result.queuedId, campaign, from });
  }
  await waitFor(
    async () => (await searchEvents(sluice.dataDir, { type: 'delivery' })).length === 3,
    20_000,
    'three deliveries',
  );
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

const search = (...args: string[]) =>
  sluiceCli(['events', 'search', '-o', `data_dir=${sluice.dataDir}`, ...args]);

async function found(...args: string[]): Promise<Array<Record<string, unknown>>> {
  const result = await search(...args, '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const idsOf = (events: Array<Record<string, unknown>>) =>
  [...new Set(events.map((e) => String(e.message_id)))].sort();

test('--campaign, --from and --transmission-id narrow the events, alone and together', async () => {
  assert.deepEqual(idsOf(await found('--campaign', 'spring')), [sent[0]!.id, sent[1]!.id].sort());
  assert.deepEqual(idsOf(await found('--from', 'NEWS@shop.example')), [sent[0]!.id, sent[2]!.id].sort());
  assert.deepEqual(idsOf(await found('--campaign', 'spring', '--from', 'news@shop.example')), [sent[0]!.id]);

  const [delivery] = await found('--message-id', sent[1]!.id, '--type', 'delivery');
  const transmission = String(delivery!.transmission_id);
  const byTransmission = await found('--transmission-id', transmission);
  assert.deepEqual(idsOf(byTransmission), [sent[1]!.id]);
  assert.deepEqual(byTransmission.map((e) => e.type).sort(), ['delivery', 'injection']);
});

test('--since and --until bound the time, --limit the count; a reversed range is refused', async () => {
  const all = await found();
  const firstInjection = all.filter((e) => e.message_id === sent[0]!.id && e.type === 'injection')[0]!;
  const untilFirst = await found('--until', String(firstInjection.timestamp));
  assert.ok(untilFirst.length >= 1);
  assert.ok(untilFirst.every((e) => String(e.timestamp) <= String(firstInjection.timestamp)));
  assert.ok(
    untilFirst.some((e) => e.event_id === firstInjection.event_id),
    '--until is inclusive',
  );
  assert.ok(!untilFirst.some((e) => e.type === 'delivery' && e.message_id === sent[2]!.id));

  const since = await found('--since', String(firstInjection.timestamp), '--type', 'injection');
  assert.deepEqual(idsOf(since), sent.map((s) => s.id).sort());
  assert.equal((await found('--since', '1h', '--type', 'delivery')).length, 3, 'a duration ago');
  assert.equal((await found('--limit', '2')).length, 2);

  const reversed = await search('--since', '2026-01-02T00:00:00Z', '--until', '2026-01-01T00:00:00Z');
  assert.equal(reversed.code, 64);
  assert.match(reversed.stderr, /--since .* is after --until/);
  assert.equal((await search('--limit', '0')).code, 64);
  assert.equal((await search('--until', 'yesterday-ish')).code, 64);
});

test('an unknown --type is an error naming the valid types; nothing found says so, and --json prints []', async () => {
  const typo = await search('--type', 'deliveryy');
  assert.equal(typo.code, 64);
  assert.match(typo.stderr, /unknown event type "deliveryy"/);
  assert.match(typo.stderr, /valid: injection, delivery, delay, bounce,/);
  assert.equal(typo.stdout, '');

  const none = await search('--campaign', 'winter');
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, 'no events match (campaign winter)\n');
  const noneJson = await search('--campaign', 'winter', '--json');
  assert.equal(noneJson.code, 0, noneJson.stderr);
  assert.equal(noneJson.stdout, '[]\n');

  const help = await sluiceCli(['events', 'search', '--help']);
  assert.match(help.stdout, /--campaign C/);
  assert.match(help.stdout, /event types: injection, delivery/);
});
