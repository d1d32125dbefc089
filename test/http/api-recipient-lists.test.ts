/**
 * Specifies /api/v1/recipient-lists against the real `sluice serve` binary with SparkPost's
 * documented requests and answers (recipient-lists.apib): create, retrieve with and without
 * recipients, update, list, delete; the documented errors (list exists 5001, no valid recipient
 * 5002, reserved id prefix, id mismatch, unknown list); invalid recipients rejected one by one
 * (rcpt_to_errors, all or ?num_rcpt_errors); and a transmission to `{"list_id": …}`: generated in
 * the background, one message per member with its own substitution data, metadata, tags and
 * header_to, its state and counts readable at GET /transmissions/{id}; broken JSON (400) and
 * bad fields (422 naming them) for these endpoints.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { type ApiCall, apiClient, type Json } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
let api: ApiCall;

before(async () => {
  sink = await startSink();
  sluice = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  const key = await createKey(sluice.dataDir, {
    label: 'lists',
    grants: [
      'recipient_lists/manage',
      'transmissions/modify',
      'transmissions/view',
      'message_events/view',
      'templates/modify',
    ],
  });
  api = apiClient(sluice.httpPort, key.key);
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
});

/** recipient-lists.apib, "Create a Recipient List": the documented body. */
const students = {
  id: 'unique_id_4_graduate_students_list',
  name: 'graduate_students',
  description: 'An email list of graduate students at UMBC',
  attributes: { internal_id: 112, list_group_id: 12321 },
  recipients: [
    {
      address: { email: 'wilmaflin@yahoo.example', name: 'Wilma' },
      tags: ['greeting', 'prehistoric', 'fred', 'flintstone'],
      metadata: { age: '24', place: 'Bedrock' },
      substitution_data: { favorite_color: 'SparkPost Orange', job: 'Software Engineer' },
    },
    {
      address: { email: 'abc@flintstone.example', name: 'ABC' },
      tags: ['driver', 'flintstone'],
      metadata: { age: '52', place: 'MD' },
      substitution_data: { favorite_color: 'Sky Blue', job: 'Driver' },
    },
    {
      address: {
        email: 'fred.jones@flintstone.example',
        name: 'Grad Student Office',
        header_to: 'grad-student-office@flintstone.example',
      },
      tags: ['driver', 'fred', 'flintstone'],
      metadata: { age: '33', place: 'NY' },
      substitution_data: { favorite_color: 'Bright Green', job: 'Firefighter' },
    },
  ],
};

test('create, retrieve, list, update and delete, as documented', async () => {
  const created = await api('POST', '/api/v1/recipient-lists', students);
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.deepEqual(created.body, {
    results: {
      total_rejected_recipients: 0,
      total_accepted_recipients: 3,
      id: 'unique_id_4_graduate_students_list',
      name: 'graduate_students',
    },
  });
  const summary = {
    id: students.id,
    name: students.name,
    description: students.description,
    attributes: students.attributes,
    total_accepted_recipients: 3,
  };
  assert.deepEqual((await api('GET', `/api/v1/recipient-lists/${students.id}`)).body, { results: summary });
  const full = await api('GET', `/api/v1/recipient-lists/${students.id}?show_recipients=true`);
  assert.deepEqual(full.body, { results: { ...summary, recipients: students.recipients } });
  assert.deepEqual((await api('GET', '/api/v1/recipient-lists')).body, { results: [summary] });

  const exists = await api('POST', '/api/v1/recipient-lists', students);
  assert.equal(exists.status, 400);
  assert.deepEqual(exists.body.errors[0], {
    message: 'List already exists',
    code: '5001',
    description: "List 'unique_id_4_graduate_students_list' already exists",
  });
  const prefixed = await api('POST', '/api/v1/recipient-lists', {
    ...students,
    id: 'rcptlist_id_students_list',
  });
  assert.equal(prefixed.status, 422);
  assert.match(prefixed.body.errors[0].description, /cannot start with 'rcptlist_'/);
  const empty = await api('POST', '/api/v1/recipient-lists', {
    id: 'nobody',
    recipients: [{ address: 'nope' }],
  });
  assert.equal(empty.status, 400);
  assert.deepEqual(empty.body.errors[0], {
    message: 'At least one valid recipient is required',
    code: '5002',
  });

  // "Update a Recipient List": the documented body replaces the recipients (two remain).
  const updated = await api('PUT', `/api/v1/recipient-lists/${students.id}`, {
    name: 'updated_graduate_students',
    description: students.description,
    attributes: students.attributes,
    recipients: students.recipients.slice(0, 2),
  });
  assert.equal(updated.status, 200, JSON.stringify(updated.body));
  assert.deepEqual(updated.body, {
    results: {
      total_rejected_recipients: 0,
      total_accepted_recipients: 2,
      id: students.id,
      name: 'updated_graduate_students',
    },
  });
  const renamed = await api('PUT', `/api/v1/recipient-lists/${students.id}`, { description: 'only this' });
  assert.deepEqual(renamed.body, { results: { id: students.id, name: 'updated_graduate_students' } });
  const kept = (await api('GET', `/api/v1/recipient-lists/${students.id}?show_recipients=true`)).body.results;
  assert.equal(kept.recipients.length, 2, 'recipients kept when the update does not give them');
  assert.equal(kept.description, 'only this');
  const mismatch = await api('PUT', `/api/v1/recipient-lists/${students.id}`, { id: 'other' });
  assert.equal(mismatch.status, 422);
  assert.match(mismatch.body.errors[0].description, /does not match the list being updated/);

  assert.deepEqual((await api('DELETE', `/api/v1/recipient-lists/${students.id}`)).body, {});
  const gone = await api('GET', `/api/v1/recipient-lists/${students.id}`);
  assert.equal(gone.status, 404);
  assert.deepEqual(gone.body.errors[0], {
    message: 'resource not found',
    code: '1600',
    description: "List 'unique_id_4_graduate_students_list' does not exist",
  });
});

test('invalid recipients are rejected one by one: all errors, or num_rcpt_errors of them', async () => {
  const body = {
    id: 'mixed',
    recipients: [
      { address: 'ok1@mixed.example' },
      { address: 'not-an-address' },
      { address: { name: 'no email' } },
      { address: 'ok2@mixed.example', tags: Array.from({ length: 11 }, (_, i) => `t${i}`) },
      { address: 'ok3@mixed.example' },
    ],
  };
  const all = await api('POST', '/api/v1/recipient-lists', body);
  assert.equal(all.status, 200);
  assert.equal(all.body.results.total_accepted_recipients, 2);
  assert.equal(all.body.results.total_rejected_recipients, 3);
  assert.deepEqual(
    all.body.results.rcpt_to_errors.map((e: Json) => e.description.split(':')[0]),
    ['recipients.1.address', 'recipients.2.address', 'recipients.3.tags'],
  );
  const limited = await api('POST', '/api/v1/recipient-lists?num_rcpt_errors=1', { ...body, id: 'mixed2' });
  assert.equal(limited.body.results.rcpt_to_errors.length, 1);
  assert.equal(limited.body.results.total_rejected_recipients, 3);
});

test('a transmission to a stored list: one message per member, with its own data, generated in the background', async () => {
  await api('POST', '/api/v1/recipient-lists', students);
  const before = sink.messages.length;
  // transmissions.apib, "Stored Recipient List".
  const answer = await api('POST', '/api/v1/transmissions', {
    campaign_id: 'christmas',
    recipients: { list_id: students.id },
    metadata: { user_type: 'students' },
    substitution_data: { sender: 'Our Store' },
    content: {
      from: { name: 'Our Store', email: 'deals@store.example' },
      subject: 'Big Christmas savings!',
      text: 'Hi {{address.name}}, {{job}} in {{place}}: {{favorite_color}} for {{user_type}}. {{sender}}',
    },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.results.total_accepted_recipients, 3);
  const id = answer.body.results.id;
  await waitFor(() => sink.messages.length >= before + 3, 30_000, 'three deliveries');
  const byRcpt = new Map(sink.messages.slice(before).map((m) => [m.rcptTo[0], m]));
  const wilma = await simpleParser(byRcpt.get('wilmaflin@yahoo.example')!.data);
  assert.equal(
    wilma.text?.trim(),
    'Hi Wilma, Software Engineer in Bedrock: SparkPost Orange for students. Our Store',
    'substitution data, then metadata, then the transmission',
  );
  const office = await simpleParser(byRcpt.get('fred.jones@flintstone.example')!.data);
  assert.equal((office.to as { text: string }).text, 'grad-student-office@flintstone.example', 'header_to');

  await waitFor(
    async () =>
      (await api('GET', `/api/v1/transmissions/${id}`)).body.results.transmission.state === 'Success',
    20_000,
    'generation done',
  );
  const { transmission } = (await api('GET', `/api/v1/transmissions/${id}`)).body.results;
  assert.equal(transmission.num_rcpts, 3);
  assert.equal(transmission.num_generated, 3);
  assert.equal(transmission.num_failed_gen, 0);
  assert.deepEqual(transmission.recipients, { list_id: students.id });
  assert.deepEqual(transmission.content, { template_id: 'inline', use_draft_template: false });
  assert.match(transmission.generation_end_time, /\+00:00$/);

  const injections = (
    await api(
      'GET',
      '/api/v1/events/message?events=injection&campaigns=christmas&recipients=abc@flintstone.example',
    )
  ).body.results;
  assert.equal(injections.length, 1);
  assert.deepEqual(injections[0].rcpt_meta, { user_type: 'students', age: '52', place: 'MD' });
  assert.deepEqual(injections[0].rcpt_tags, ['driver', 'flintstone']);
  assert.equal(injections[0].transmission_id, id);

  const unknown = await api('POST', '/api/v1/transmissions', {
    recipients: { list_id: 'no_such_list' },
    content: { from: 'a@b.example', subject: 's', text: 't' },
  });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.errors[0].description, "List 'no_such_list' does not exist");
});

test('bad input to the templates and recipient lists endpoints: 400 for broken JSON, 422 naming the field', async () => {
  for (const path of ['/api/v1/recipient-lists', '/api/v1/recipient-lists/x', '/api/v1/templates']) {
    for (const text of ['{"recipients":', '{bad json}', '\u0000\u0001binary']) {
      const answer = await api(path.endsWith('/x') ? 'PUT' : 'POST', path, text);
      assert.equal(answer.status, 400, `${path} ${JSON.stringify(text)}`);
      assert.equal(answer.body.errors[0].message, 'invalid JSON');
    }
  }
  // The key and its grant are checked before the body is read: without the grant, the body (broken
  // or not) is never parsed.
  const listsOnly = await createKey(sluice.dataDir, {
    label: 'lists only',
    grants: ['recipient_lists/manage'],
  });
  const withoutGrant = await apiClient(sluice.httpPort, listsOnly.key)(
    'POST',
    '/api/v1/templates',
    '{bad json}',
  );
  assert.equal(withoutGrant.status, 403);
  assert.match(withoutGrant.body.errors[0].description, /templates\/modify/);
  const notArray = await api('POST', '/api/v1/recipient-lists', { recipients: { address: 'a@b.example' } });
  assert.equal(notArray.status, 422);
  assert.match(notArray.body.errors[0].description, /^recipients:/);
  const longName = await api('POST', '/api/v1/recipient-lists', { name: 'n'.repeat(65), recipients: [] });
  assert.equal(longName.status, 422);
  assert.match(longName.body.errors[0].description, /^name:/);
  const badId = await api('GET', `/api/v1/recipient-lists/${'x'.repeat(65)}`);
  assert.equal(badId.status, 422);
  assert.equal((await api('POST', '/api/v1/transmissions', { recipients: { list_id: '' } })).status, 422);
});
