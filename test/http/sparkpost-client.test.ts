/**
 * Specifies compatibility with SparkPost's own Node client (the `sparkpost` npm package), pointed
 * at Sluice with its `origin` option and otherwise used as its README says: transmissions.send
 * (delivered to a recording sink), events.searchMessage, suppressionList upsert/get/delete, API
 * keys through the client's generic get/post/put/delete (2.x has no api-keys wrapper), and its
 * error path: a refusal reaches the caller as the client's SparkPostError with our status and
 * SparkPost-shaped `errors`.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { createKey } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

// biome-ignore lint/suspicious/noExplicitAny: the client is untyped JavaScript; the test checks its answers
type Any = any;
const SparkPost = createRequire(import.meta.url)('sparkpost') as new (
  key: string,
  options: { origin: string },
) => Any;

let sink: Sink;
let sluice: SluiceProcess;
let client: Any;

before(async () => {
  sink = await startSink();
  sluice = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  const key = await createKey(sluice.dataDir, {
    label: 'sparkpost client',
    grants: ['transmissions/modify', 'message_events/view', 'suppression_lists/manage', 'api_keys/manage'],
  });
  client = new SparkPost(key.key, { origin: `http://127.0.0.1:${sluice.httpPort}` });
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
});

test('transmissions.send is accepted, delivered, and its events found with events.searchMessage', async () => {
  const answer = await client.transmissions.send(
    {
      campaign_id: 'client-lib',
      options: { transactional: true },
      content: {
        from: 'app@lib.example',
        subject: 'From the SparkPost client, {{first}}',
        text: 'hi {{first}}',
      },
      substitution_data: { first: 'friend' },
      recipients: [{ address: { email: 'dee@four.example', name: 'Dee' } }, { address: 'eve@five.example' }],
    },
    { num_rcpt_errors: 3 },
  );
  assert.equal(answer.results.total_accepted_recipients, 2);
  assert.equal(answer.results.total_rejected_recipients, 0);
  assert.match(answer.results.id, /^\d+$/);
  await waitFor(() => sink.messages.length >= 2, 20_000, 'two deliveries');
  assert.ok(sink.messages.every((m) => m.text.includes('Subject: From the SparkPost client, friend')));

  const found = await client.events.searchMessage({ campaigns: 'client-lib', events: 'injection' });
  assert.equal(found.results.length, 2);
  assert.ok(
    found.results.every((e: Any) => e.transmission_id === answer.results.id && e.transactional === '1'),
  );
});

test('suppressionList.upsert, get and delete; a suppressed recipient is rejected in transmissions.send', async () => {
  await client.suppressionList.upsert([
    { recipient: 'stop@six.example', type: 'non_transactional', description: 'x' },
  ]);
  const got = await client.suppressionList.get('stop@six.example');
  assert.equal(got.results[0].type, 'non_transactional');
  const sent = await client.transmissions.send(
    {
      content: { from: 'app@lib.example', subject: 's', text: 't' },
      recipients: [{ address: 'stop@six.example' }, { address: 'go@six.example' }],
    },
    { num_rcpt_errors: 1 },
  );
  assert.equal(sent.results.total_rejected_recipients, 1);
  assert.equal(sent.results.total_accepted_recipients, 1);
  assert.equal(sent.results.rcpt_to_errors.length, 1);
  await client.suppressionList.delete('stop@six.example');
  await assert.rejects(
    client.suppressionList.get('stop@six.example'),
    (error: Any) => error.statusCode === 404,
  );
});

test('api keys through the client: create, list, update, delete', async () => {
  const created = await client.post({
    uri: 'api-keys',
    json: { label: 'made by client', grants: ['message_events/view'] },
  });
  const { id, key } = created.results;
  assert.match(key, /^[0-9a-f]{40}$/);
  const listed = await client.get({ uri: 'api-keys' });
  assert.ok(listed.results.some((k: Any) => k.id === id && k.short_key === key.slice(0, 4)));
  const updated = await client.put({ uri: `api-keys/${id}`, json: { label: 'renamed' } });
  assert.equal(updated.results.label, 'renamed');
  const other = new SparkPost(key, { origin: `http://127.0.0.1:${sluice.httpPort}` });
  assert.deepEqual((await other.get({ uri: 'authenticate/grants' })).results, ['message_events/view']);
  await client.delete({ uri: `api-keys/${id}` });
  await assert.rejects(other.get({ uri: 'authenticate/grants' }), (error: Any) => error.statusCode === 401);
});

test('a refusal reaches the client as SparkPostError with status and SparkPost-shaped errors', async () => {
  await assert.rejects(
    client.transmissions.send({
      recipients: [{ address: 'x@seven.example' }],
      content: { subject: 'no from', text: 't' },
    }),
    (error: Any) => {
      assert.equal(error.name, 'SparkPostError');
      assert.equal(error.statusCode, 422);
      assert.ok(Array.isArray(error.errors) && error.errors[0].description.length > 0);
      return true;
    },
  );
});
