/**
 * Specifies compatibility with SparkPost's own Node client (the `sparkpost` npm package), pointed
 * at Sluice with its `origin` option and otherwise used as its README says: transmissions.send
 * (delivered to a recording sink), events.searchMessage, suppressionList upsert/get/delete, API
 * keys through the client's generic get/post/put/delete (2.x has no api-keys wrapper), templates.*
 * (create, get, list, update, preview, delete), recipientLists.* (create, get, list, update,
 * delete), transmissions.send to a stored list with a stored template, scheduled, then
 * transmissions.list and transmissions.get, and its error path: a refusal reaches the caller as
 * the client's SparkPostError with our status and SparkPost-shaped `errors`.
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
    grants: [
      'transmissions/modify',
      'transmissions/view',
      'message_events/view',
      'suppression_lists/manage',
      'api_keys/manage',
      'templates/modify',
      'templates/view',
      'recipient_lists/manage',
    ],
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

test('templates.create, get, list, update, preview and delete', async () => {
  const created = await client.templates.create({
    id: 'client_tpl',
    name: 'Client template',
    content: { from: 'app@lib.example', subject: 'Hi {{name}}', text: 'draft {{name}}' },
  });
  assert.deepEqual(created.results, { id: 'client_tpl' });
  const draft = await client.templates.get('client_tpl', { draft: true });
  assert.equal(draft.results.published, false);
  assert.equal(draft.results.content.text, 'draft {{name}}');
  await client.templates.update('client_tpl', { published: true });
  await client.templates.update('client_tpl', { description: 'in place' }, { update_published: true });
  const published = await client.templates.get('client_tpl', { draft: false });
  assert.equal(published.results.published, true);
  assert.equal(published.results.description, 'in place');
  assert.ok((await client.templates.list()).results.some((t: Any) => t.id === 'client_tpl'));
  const preview = await client.templates.preview('client_tpl', {
    substitution_data: { name: 'Lib' },
    draft: false,
  });
  assert.equal(preview.results.subject, 'Hi Lib');
  assert.equal(preview.results.text, 'draft Lib');
  await client.templates.delete('client_tpl');
  await assert.rejects(client.templates.get('client_tpl'), (error: Any) => error.statusCode === 404);
});

test('recipientLists.create, get, list, update and delete', async () => {
  const created = await client.recipientLists.create({
    id: 'client_list',
    name: 'Client list',
    num_rcpt_errors: 1,
    recipients: [
      {
        address: { email: 'one@list.example', name: 'One' },
        substitution_data: { n: 1 },
        metadata: { m: 'a' },
      },
      { address: 'bad address' },
    ],
  });
  assert.equal(created.results.total_accepted_recipients, 1);
  assert.equal(created.results.total_rejected_recipients, 1);
  assert.equal(created.results.rcpt_to_errors.length, 1);
  const got = await client.recipientLists.get('client_list', { show_recipients: true });
  assert.deepEqual(got.results.recipients, [
    {
      address: { email: 'one@list.example', name: 'One' },
      substitution_data: { n: 1 },
      metadata: { m: 'a' },
    },
  ]);
  assert.ok((await client.recipientLists.list()).results.some((l: Any) => l.id === 'client_list'));
  const updated = await client.recipientLists.update('client_list', {
    recipients: [{ address: 'two@list.example' }, { address: 'three@list.example' }],
  });
  assert.equal(updated.results.total_accepted_recipients, 2);
  await client.recipientLists.delete('client_list');
  await assert.rejects(client.recipientLists.get('client_list'), (error: Any) => error.statusCode === 404);
});

test('transmissions.send to a stored list with a stored template; scheduled; transmissions.list and get', async () => {
  await client.templates.create({
    id: 'lib_tpl',
    published: true,
    content: { from: 'app@lib.example', subject: 'For {{who}}', text: 'hello {{who}}' },
  });
  await client.recipientLists.create({
    id: 'lib_list',
    recipients: [{ address: 'gil@nine.example', substitution_data: { who: 'Gil' } }],
  });
  const before = sink.messages.length;
  const sent = await client.transmissions.send({
    campaign_id: 'lib-list',
    recipients: { list_id: 'lib_list' },
    content: { template_id: 'lib_tpl' },
  });
  assert.equal(sent.results.total_accepted_recipients, 1);
  await waitFor(() => sink.messages.length > before, 20_000, 'the list delivery');
  assert.match(sink.messages.at(-1)!.text, /Subject: For Gil/);
  await waitFor(
    async () => (await client.transmissions.get(sent.results.id)).results.transmission.state === 'Success',
    20_000,
    'Success',
  );

  const start = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
  const scheduled = await client.transmissions.send({
    campaign_id: 'lib-later',
    options: { start_time: start },
    recipients: [{ address: 'hal@nine.example', substitution_data: { who: 'Hal' } }],
    content: { template_id: 'lib_tpl' },
  });
  const listed = await client.transmissions.list({ campaign_id: 'lib-later' });
  assert.deepEqual(
    listed.results.map((t: Any) => [t.id, t.state, t.content.template_id]),
    [[scheduled.results.id, 'submitted', 'lib_tpl']],
  );
  const got = await client.transmissions.get(scheduled.results.id);
  assert.equal(got.results.transmission.state, 'submitted');
  assert.equal(got.results.transmission.num_rcpts, 1);
  await client.delete({ uri: `transmissions/${scheduled.results.id}` });
  assert.equal((await client.transmissions.get(scheduled.results.id)).results.transmission.state, 'Canceled');
});
