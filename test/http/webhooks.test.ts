/**
 * Specifies webhooks end to end against the real `sluice serve` binary and a real HTTP receiver
 * in the test: creating a webhook sends a signed test batch (and is refused if the target does not
 * accept it); a transmission's injection and delivery events arrive in SparkPost's batch shape
 * with X-MessageSystems-Batch-ID, Basic auth and a verifiable HMAC signature; a batch the receiver
 * refuses (the first two) is sent again, same id and same bytes, until accepted; pending batches
 * survive a restart (at-least-once); list/get/update/delete. A target that answers non-2xx or
 * cannot be reached gets one generic sentence at the API (no status, no network error: no port
 * scanning through Sluice) while the log line has the detail; validate says the same.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { UNREACHABLE_TARGET } from '../../src/http/api/webhooks-v1.js';
import { type ApiCall, apiClient, type Json } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

interface Received {
  batchId: string;
  signature: string;
  authorization: string;
  body: string;
  status: number;
}

/** An HTTP receiver answering each POST with the status `answer` picks (by arrival number). */
async function startReceiver(answer: (n: number) => number, port = 0) {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const status = answer(received.length);
      received.push({
        batchId: String(request.headers['x-messagesystems-batch-id'] ?? ''),
        signature: String(request.headers['x-sluice-signature'] ?? ''),
        authorization: String(request.headers.authorization ?? ''),
        body: Buffer.concat(chunks).toString('utf8'),
        status,
      });
      response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const address = server.address();
  return {
    received,
    port: typeof address === 'object' && address ? address.port : 0,
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function verify(secret: string, signature: string, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
  if (!match) return false;
  return createHmac('sha256', secret).update(`${match[1]}.${body}`).digest('hex') === match[2];
}

// The receivers live on loopback, which webhook targets may not be by default (SSRF guard).
const FAST = {
  'webhooks.batch_interval': '100ms',
  'webhooks.retry_schedule': '["200ms"]',
  'webhooks.allow_private_targets': true,
};

async function keyFor(sluice: SluiceProcess): Promise<ApiCall> {
  const key = await createKey(sluice.dataDir, {
    grants: ['webhooks/modify', 'webhooks/view', 'transmissions/modify'],
  });
  return apiClient(sluice.httpPort, key.key);
}

const send = (api: ApiCall, rcpts: string[]) =>
  api('POST', '/api/v1/transmissions', {
    campaign_id: 'hooks',
    recipients: rcpts.map((address) => ({ address })),
    content: { from: 'app@hooks.example', subject: 'webhook test', text: 'hello' },
  });

describe('webhooks', () => {
  let sink: Sink;
  let sluice: SluiceProcess;
  let api: ApiCall;
  before(async () => {
    sink = await startSink();
    sluice = await startSluice({ overrides: { ...FAST, 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
    api = await keyFor(sluice);
  });
  after(async () => {
    await sluice?.stop();
    await sink?.stop();
  });

  test('test batch on create; refused batches retried with the same id and bytes; events arrive signed', async () => {
    // Arrival 0 is the test batch at creation; arrivals 1 and 2 are refused.
    const receiver = await startReceiver((n) => (n === 1 || n === 2 ? 500 : 200));
    try {
      const created = await api('POST', '/api/v1/webhooks', {
        name: 'events to my app',
        target: receiver.url,
        events: ['injection', 'delivery'],
        auth_type: 'basic',
        auth_credentials: { username: 'hook', password: 's3cret' },
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const { id, signing_secret: secret } = created.body.results;
      assert.equal(receiver.received.length, 1, 'the test batch came first');
      const probe = receiver.received[0]!;
      assert.ok(verify(secret, probe.signature, probe.body), 'test batch signature verifies');
      assert.equal(probe.authorization, `Basic ${Buffer.from('hook:s3cret').toString('base64')}`);
      assert.ok(JSON.parse(probe.body)[0].msys.message_event);

      const sent = await send(api, ['one@hooks.example', 'two@hooks.example']);
      assert.equal(sent.status, 200);
      const seen = () => {
        const accepted = receiver.received.slice(1).filter((r) => r.status === 200);
        const events = accepted.flatMap((r) => JSON.parse(r.body) as Json[]).map((e) => e.msys.message_event);
        return events;
      };
      await waitFor(
        () =>
          seen().filter((e) => e.type === 'delivery').length === 2 &&
          seen().filter((e) => e.type === 'injection').length === 2,
        20_000,
        'injection and delivery events for both recipients',
      );
      const refused = receiver.received.filter((r) => r.status === 500);
      assert.equal(refused.length, 2);
      for (const r of refused) {
        const again = receiver.received.find((x) => x.status === 200 && x.batchId === r.batchId);
        assert.ok(again, `batch ${r.batchId} was sent again and accepted`);
        assert.equal(again.body, r.body, 'same bytes');
      }
      for (const r of receiver.received)
        assert.ok(verify(secret, r.signature, r.body), 'every batch is signed');
      assert.ok(seen().every((e) => e.campaign_id === 'hooks' && ['injection', 'delivery'].includes(e.type)));
      const ids = new Set(receiver.received.filter((r) => r.status === 200).map((r) => r.batchId));
      assert.equal(
        ids.size,
        receiver.received.filter((r) => r.status === 200).length,
        'an accepted batch is not sent again',
      );

      const got = await api('GET', `/api/v1/webhooks/${id}`);
      assert.equal(got.body.results.target, receiver.url);
      assert.ok(!JSON.stringify(got.body).includes('s3cret') && !JSON.stringify(got.body).includes(secret));
      const updated = await api('PUT', `/api/v1/webhooks/${id}`, {
        events: ['bounce'],
        name: 'bounces only',
      });
      assert.deepEqual(updated.body.results.events, ['bounce']);
      assert.equal((await api('GET', '/api/v1/webhooks')).body.results.length, 1);
      assert.equal((await api('DELETE', `/api/v1/webhooks/${id}`)).status, 204);
      assert.equal((await api('GET', `/api/v1/webhooks/${id}`)).status, 404);
    } finally {
      await receiver.stop();
    }
  });

  test('a target that refuses the test batch (or is not there) is not made a webhook; the API gets one generic sentence, the log the detail', async () => {
    const receiver = await startReceiver(() => 404);
    try {
      const refused = await api('POST', '/api/v1/webhooks', { name: 'x', target: receiver.url });
      assert.equal(refused.status, 400);
      const closedPort = await freePort();
      const nobody = await api('POST', '/api/v1/webhooks', {
        name: 'x',
        target: `http://127.0.0.1:${closedPort}/`,
      });
      assert.equal(nobody.status, 400);
      // A key holder must not tell a closed port from a listening one, nor learn the status.
      assert.deepEqual(nobody.body, refused.body, 'the same answer for a 404 and a refused connection');
      assert.equal(refused.body.errors[0].description, `target: ${UNREACHABLE_TARGET}`);
      assert.doesNotMatch(JSON.stringify(refused.body), /404|ECONN|refused/i);
      const logged = (text: RegExp) =>
        sluice
          .output()
          .split('\n')
          .some((line) => line.includes('webhook test batch not accepted') && text.test(line));
      await waitFor(
        () => logged(/HTTP 404/) && logged(new RegExp(`127\\.0\\.0\\.1:${closedPort}.*ECONNREFUSED`)),
      );

      const bad = await api('POST', '/api/v1/webhooks', { name: 'x', target: 'ftp://127.0.0.1/' });
      assert.equal(bad.status, 422);
      assert.match(bad.body.errors[0].description, /^target:/);
      assert.equal((await api('GET', '/api/v1/webhooks')).body.results.length, 0);
    } finally {
      await receiver.stop();
    }
  });

  test('validate reports a failure without the status or answer; a success with them', async () => {
    let status = 200;
    const receiver = await startReceiver(() => status);
    try {
      const created = await api('POST', '/api/v1/webhooks', { name: 'v', target: receiver.url });
      assert.equal(created.status, 200);
      const id = created.body.results.id;
      const ok = await api('POST', `/api/v1/webhooks/${id}/validate`);
      assert.deepEqual(ok.body.results, {
        msg: 'Test POST to endpoint succeeded',
        response: { status: 200, body: 'ok' },
      });
      status = 503;
      const failed = await api('POST', `/api/v1/webhooks/${id}/validate`);
      assert.deepEqual(failed.body.results, {
        msg: 'Test POST to endpoint failed',
        description: UNREACHABLE_TARGET,
      });
      assert.equal((await api('DELETE', `/api/v1/webhooks/${id}`)).status, 204);
    } finally {
      await receiver.stop();
    }
  });
});

test('pending batches survive a restart and are delivered by the next run (at-least-once)', async () => {
  let accepting = true; // for the test batch at creation
  const receiver = await startReceiver(() => (accepting ? 200 : 503));
  const first = await startSluice({ overrides: { ...FAST, 'delivery.relayhost': '[127.0.0.1]:9' } });
  let second: SluiceProcess | null = null;
  try {
    const api = await keyFor(first);
    const created = await api('POST', '/api/v1/webhooks', {
      name: 'x',
      target: receiver.url,
      events: ['injection'],
    });
    assert.equal(created.status, 200);
    accepting = false;
    assert.equal((await send(api, ['late@hooks.example'])).status, 200);
    await waitFor(() => receiver.received.some((r) => r.status === 503), 20_000, 'a refused attempt');
    const refusedId = receiver.received.find((r) => r.status === 503)!.batchId;
    assert.equal(await first.stop(), 0);
    accepting = true;
    second = await startSluice({
      dataDir: first.dataDir,
      overrides: { ...FAST, 'delivery.relayhost': '[127.0.0.1]:9' },
    });
    await waitFor(
      () => receiver.received.some((r) => r.status === 200 && r.batchId === refusedId),
      20_000,
      'the stored batch delivered after the restart',
    );
    const delivered = receiver.received.find((r) => r.status === 200 && r.batchId === refusedId)!;
    const event = JSON.parse(delivered.body)[0].msys.message_event;
    assert.equal(event.type, 'injection');
    assert.equal(event.rcpt_to, 'late@hooks.example');
  } finally {
    await second?.stop();
    await first.stop();
    await receiver.stop();
  }
});
