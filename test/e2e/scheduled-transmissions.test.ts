/**
 * Specifies scheduled transmissions (options.start_time) and background generation against the
 * real `sluice serve` binary, killed with SIGKILL and started again on the same data directory:
 * - a scheduled transmission is held (nothing reaches the sink before its start time), survives
 *   the kill, and is generated after it with the template version current at generation time;
 *   canceled ones (by id, by campaign) never are; list, filters, states and the documented
 *   refusals (409 code 2006, 404, start_time too far or without an offset);
 * - a generation killed half-way (a stored list of a few thousand recipients) resumes after the
 *   restart: every recipient is generated exactly once (one injection event each) and delivered.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { type ApiCall, apiClient, type Json } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const stop of cleanup.reverse()) await stop();
});

const GRANTS = [
  'transmissions/modify',
  'transmissions/view',
  'templates/modify',
  'recipient_lists/manage',
  'message_events/view',
];

async function start(sink: Sink, dataDir?: string): Promise<SluiceProcess> {
  const sluice = await startSluice({
    ...(dataDir ? { dataDir } : {}),
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` },
  });
  cleanup.push(() => sluice.stop('SIGKILL'));
  return sluice;
}

/** SparkPost's format, with a -04:00 offset: 2018-09-11T08:00:00-04:00. */
function withOffset(ms: number): string {
  const local = new Date(ms - 4 * 3_600_000).toISOString().slice(0, 19);
  return `${local}-04:00`;
}

test('a scheduled transmission is held through a SIGKILL, then generated with the template as it is then', async () => {
  const sink = await startSink();
  cleanup.push(() => sink.stop());
  let sluice = await start(sink);
  const key = await createKey(sluice.dataDir, { label: 'scheduler', grants: GRANTS });
  let api: ApiCall = apiClient(sluice.httpPort, key.key);

  await api('POST', '/api/v1/templates', {
    id: 'fall_deals',
    published: true,
    content: { from: 'deals@fall.example', subject: 'Fall v1 for {{name}}', text: 'v1' },
  });
  const startAt = Math.ceil((Date.now() + 15_000) / 1000) * 1000;
  const startTime = withOffset(startAt);
  // transmissions.apib, "Schedule a Transmission" (with inline recipients).
  const scheduled = await api('POST', '/api/v1/transmissions', {
    name: 'Fall Sale',
    campaign_id: 'fall',
    options: { start_time: startTime },
    recipients: [
      { address: 'ann@fall.example', substitution_data: { name: 'Ann' } },
      { address: 'bob@fall.example', substitution_data: { name: 'Bob' } },
    ],
    content: { template_id: 'fall_deals' },
  });
  assert.equal(scheduled.status, 200, JSON.stringify(scheduled.body));
  assert.equal(scheduled.body.results.total_accepted_recipients, 2);
  const id = scheduled.body.results.id as string;
  const inline = { from: 'x@fall.example', subject: 's', text: 't' };
  const byId = await api('POST', '/api/v1/transmissions', {
    campaign_id: 'fall',
    options: { start_time: startTime },
    recipients: [{ address: 'canceled@fall.example' }],
    content: inline,
  });
  const byCampaign = await api('POST', '/api/v1/transmissions', {
    campaign_id: 'winter',
    options: { start_time: startTime },
    recipients: [{ address: 'canceled@winter.example' }],
    content: inline,
  });
  assert.equal((await api('DELETE', `/api/v1/transmissions/${byId.body.results.id}`)).status, 204);
  assert.equal((await api('DELETE', '/api/v1/transmissions?campaign_id=winter')).status, 204);

  const listed = (await api('GET', '/api/v1/transmissions')).body.results;
  assert.deepEqual(
    listed.map((t: Json) => [t.id, t.state, t.content.template_id, t.campaign_id]),
    [
      [byCampaign.body.results.id, 'Canceled', 'inline', 'winter'],
      [byId.body.results.id, 'Canceled', 'inline', 'fall'],
      [id, 'submitted', 'fall_deals', 'fall'],
    ],
  );
  assert.equal((await api('GET', '/api/v1/transmissions?campaign_id=fall')).body.results.length, 2);
  assert.deepEqual(
    (await api('GET', '/api/v1/transmissions?template_id=fall_deals')).body.results.map((t: Json) => t.id),
    [id],
  );
  const submitted = (await api('GET', `/api/v1/transmissions/${id}`)).body.results.transmission;
  assert.equal(submitted.state, 'submitted');
  assert.equal(submitted.name, 'Fall Sale');
  assert.equal(Date.parse(submitted.start_time), startAt);
  assert.equal(submitted.num_rcpts, 2);
  const inUse = await api('DELETE', '/api/v1/templates/fall_deals');
  assert.equal(inUse.status, 409, 'a template a submitted transmission uses cannot go');
  // Changed after scheduling: the generation must use this version.
  await api('PUT', '/api/v1/templates/fall_deals?update_published=true', {
    content: { from: 'deals@fall.example', subject: 'Fall v2 for {{name}}', text: 'v2' },
  });
  assert.equal(sink.messages.length, 0, 'nothing is sent before its start time');

  await sluice.stop('SIGKILL');
  sluice = await start(sink, sluice.dataDir);
  api = apiClient(sluice.httpPort, key.key);
  if (Date.now() < startAt - 1000) assert.equal(sink.messages.length, 0, 'still held after the restart');
  await waitFor(() => sink.messages.length >= 2, 60_000, 'the scheduled deliveries');
  for (const message of sink.messages) assert.ok(message.receivedAt >= startAt, 'never before start_time');
  const subjects = await Promise.all(sink.messages.map(async (m) => (await simpleParser(m.data)).subject));
  assert.deepEqual(subjects.sort(), ['Fall v2 for Ann', 'Fall v2 for Bob']);
  await waitFor(
    async () =>
      (await api('GET', `/api/v1/transmissions/${id}`)).body.results.transmission.state === 'Success',
    20_000,
    'the transmission marked Success',
  );
  const done = (await api('GET', `/api/v1/transmissions/${id}`)).body.results.transmission;
  assert.equal(done.num_generated, 2);
  assert.ok(Date.parse(done.generation_start_time) >= startAt);
  assert.deepEqual(
    sink.messages.map((m) => m.rcptTo[0]).sort(),
    ['ann@fall.example', 'bob@fall.example'],
    'canceled transmissions were never sent',
  );

  const finished = await api('DELETE', `/api/v1/transmissions/${id}`);
  assert.equal(finished.status, 409);
  assert.equal(finished.body.errors[0].code, '2006');
  const unknown = await api('DELETE', '/api/v1/transmissions/999999999');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.errors[0].description, 'Resource not found:transmission id 999999999');
  const tooFar = await api('POST', '/api/v1/transmissions', {
    options: { start_time: withOffset(Date.now() + 4 * 24 * 3_600_000) },
    recipients: [{ address: 'a@b.example' }],
    content: inline,
  });
  assert.equal(tooFar.status, 422);
  assert.match(tooFar.body.errors[0].description, /^options\.start_time: must be at most 72 hours ahead/);
  const noOffset = await api('POST', '/api/v1/transmissions', {
    options: { start_time: '2030-01-01T00:00:00' },
    recipients: [{ address: 'a@b.example' }],
    content: inline,
  });
  assert.equal(noOffset.status, 422);
  assert.match(
    noOffset.body.errors[0].description,
    /^options\.start_time: must be a date and time with its offset/,
  );
});

test('a generation killed half-way resumes after the restart: each recipient generated once, all delivered', async () => {
  const sink = await startSink();
  cleanup.push(() => sink.stop());
  let sluice = await start(sink);
  const key = await createKey(sluice.dataDir, { label: 'resume', grants: GRANTS });
  let api: ApiCall = apiClient(sluice.httpPort, key.key);
  const total = 3000;
  const members = Array.from({ length: total }, (_, i) => ({
    address: `r${i}@resume.example`,
    substitution_data: { n: i },
  }));
  const list = await api('POST', '/api/v1/recipient-lists', { id: 'big', recipients: members });
  assert.equal(list.body.results.total_accepted_recipients, total);
  const answer = await api('POST', '/api/v1/transmissions', {
    campaign_id: 'resume',
    recipients: { list_id: 'big' },
    content: { from: 'news@resume.example', subject: 'number {{n}}', text: 'n={{n}}' },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const id = answer.body.results.id as string;
  const state = async () => (await api('GET', `/api/v1/transmissions/${id}`)).body.results.transmission;
  await waitFor(
    async () => {
      const t = await state();
      return t.state === 'Generating' && t.num_generated > 0 ? t : null;
    },
    60_000,
    'generation under way',
  );
  await sluice.stop('SIGKILL');
  const progressed = sink.messages.length;
  assert.ok(progressed < total, 'killed before every message was delivered');

  sluice = await start(sink, sluice.dataDir);
  api = apiClient(sluice.httpPort, key.key);
  await waitFor(
    async () => (await state()).state === 'Success',
    120_000,
    'generation finished after the restart',
  );
  assert.match(sluice.output(), /resuming transmission generation/, 'the restart resumed, not restarted, it');
  const done = await state();
  assert.equal(done.num_rcpts, total);
  assert.equal(done.num_generated + done.num_failed_gen, total);
  assert.equal(done.num_failed_gen, 0);
  await waitFor(
    () => new Set(sink.messages.map((m) => m.rcptTo[0])).size === total,
    180_000,
    'every recipient delivered',
  );
  // Generation is exactly once; only delivery may repeat the few messages a kill caught in flight.
  const injected = new Map<string, number>();
  let path: string | undefined = '/api/v1/events/message?events=injection&campaigns=resume&per_page=10000';
  while (path) {
    const page: Json = (await api('GET', path)).body;
    for (const event of page.results) injected.set(event.rcpt_to, (injected.get(event.rcpt_to) ?? 0) + 1);
    path = page.links.next;
  }
  assert.equal(injected.size, total);
  assert.deepEqual(
    [...injected].filter(([, n]) => n !== 1),
    [],
    'no recipient generated twice',
  );
});
