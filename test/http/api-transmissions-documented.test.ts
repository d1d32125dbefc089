/**
 * The examples of SparkPost's Transmissions reference (transmissions.apib), sent as documented to
 * the real `sluice serve` binary: the answers have the documented shape and codes, and the
 * messages at the sink show that each field of the request acted. Where Sluice must differ, the
 * test says why: the documented RFC 822 example has no From field and relies on SparkPost's own
 * bounce domain for the envelope sender, which a self-hosted MTA does not have, so it is refused
 * naming return_path, and accepted once one is given. (The inline example's recipient has a
 * trailing comma in the reference, which is not JSON; it is sent without it.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ApiCall, apiClient, type Json } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { waitFor, waitForPort } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
let api: ApiCall;

before(async () => {
  sink = await startSink();
  sluice = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  await waitForPort(sluice.httpPort);
  const key = await createKey(sluice.dataDir, {
    label: 'documented',
    grants: ['transmissions/modify', 'transmissions/view'],
  });
  api = apiClient(sluice.httpPort, key.key);
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
});

async function delivered(rcpt: string, subject: RegExp) {
  return (await waitFor(
    () => sink.messages.find((m) => m.rcptTo[0] === rcpt && subject.test(m.text)),
    20_000,
    `the message to ${rcpt}`,
  ))!;
}

/** Undoes quoted-printable soft breaks and =XX escapes, enough to read a text part. */
function unqp(text: string): string {
  return text
    .replace(/=\r\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)));
}

test('Send Inline Content: the documented request, answer and message', async () => {
  const answer = await api('POST', '/api/v1/transmissions', {
    options: { open_tracking: true, click_tracking: true },
    metadata: { user_type: 'students', education_level: 'college' },
    substitution_data: { discount: '25' },
    recipients: [
      {
        address: { email: 'wilma@flintstone.com', name: 'Wilma Flintstone' },
        substitution_data: { customer_type: 'Platinum' },
      },
    ],
    content: {
      from: { name: 'Fred Flintstone', email: 'fred@flintstone.com' },
      subject: 'Big Christmas savings!',
      reply_to: 'Christmas Sales <sales@flintstone.com>',
      headers: { 'X-Customer-Campaign-ID': 'christmas_campaign' },
      html: '<p>Hi {{address.name}} \nSave big this Christmas in your area {{place}}! \nClick http://www.mysite.com and get a {{discount}}% discount\n</p><p>Hurry, this offer is only to {{user_type}}\n</p>',
    },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(Object.keys(answer.body), ['results']);
  assert.equal(answer.body.results.total_rejected_recipients, 0);
  assert.equal(answer.body.results.total_accepted_recipients, 1);
  assert.match(answer.body.results.id, /^\d+$/);

  const message = await delivered('wilma@flintstone.com', /Subject: Big Christmas savings!/);
  assert.match(message.text, /^From: "?Fred Flintstone"? <fred@flintstone\.com>/m);
  assert.match(message.text, /^To: "?Wilma Flintstone"? <wilma@flintstone\.com>/m);
  assert.match(message.text, /^Reply-To: "?Christmas Sales"? <sales@flintstone\.com>/m);
  assert.match(message.text, /^X-Customer-Campaign-ID: christmas_campaign/m);
  const html = unqp(message.text);
  // address.name from the recipient, discount from the transmission's data, user_type from its
  // metadata; {{place}} is in no data and renders empty.
  assert.match(html, /Hi Wilma Flintstone \r?\nSave big this Christmas in your area ! /);
  assert.match(html, /get a 25% discount/);
  assert.match(html, /only to students/);
  // open_tracking: the pixel, signed for this recipient. The documented URL is text, not a link:
  // click tracking leaves it as it is.
  assert.match(html, /<img src="https?:\/\/[^"/]+\/q\/[A-Za-z0-9_-]+"/);
  assert.match(html, /Click http:\/\/www\.mysite\.com and get/);

  const got = await api('GET', `/api/v1/transmissions/${answer.body.results.id}`);
  assert.equal(got.status, 200);
  const transmission: Json = got.body.results.transmission;
  assert.equal(transmission.id, answer.body.results.id);
  assert.equal(transmission.state, 'Success');
  assert.deepEqual(transmission.content, { template_id: 'inline', use_draft_template: false });
  assert.equal(transmission.num_rcpts, 1);
  assert.equal(transmission.num_generated, 1);
  assert.equal(transmission.num_failed_gen, 0);
  assert.equal(transmission.rcpt_list_total_chunks, 1);
  assert.equal(typeof transmission.rcpt_list_chunk_size, 'number');
  assert.match(transmission.generation_start_time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/);
  assert.match(transmission.generation_end_time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/);
  assert.deepEqual(transmission.metadata, { user_type: 'students', education_level: 'college' });
  assert.deepEqual(transmission.substitution_data, { discount: '25' });
  assert.deepEqual(transmission.options, { open_tracking: true, click_tracking: true });
});

test('Send RFC822 Content: substituted in the headers and the text; without a From field, return_path is needed', async () => {
  const documented = {
    description: 'Christmas Campaign Email',
    recipients: [
      {
        address: { email: 'wilma@flintstone.com', name: 'Wilma Flintstone' },
        substitution_data: { first_name: 'Wilma', customer_type: 'Platinum', year: 'Freshman' },
      },
    ],
    content: {
      email_rfc822:
        'Content-Type: text/plain\r\nTo: "{{address.name}}" <{{address.email}}>\r\n\r\n Hi {{first_name}} \nSave big this Christmas in your area {{place}}! \nClick http://www.mysite.com and get huge discount\n Hurry, this offer is only to {{customer_type}}\n {{sender}}\r\n',
    },
  };
  const refused = await api('POST', '/api/v1/transmissions', documented);
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.match(refused.body.errors[0].description, /^return_path: is required with content\.email_rfc822/);

  const answer = await api('POST', '/api/v1/transmissions', {
    ...documented,
    return_path: 'bounces@flintstone.com',
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.results.total_accepted_recipients, 1);
  const message = await delivered('wilma@flintstone.com', /only to Platinum/);
  assert.equal(message.mailFrom, 'bounces@flintstone.com');
  assert.match(message.text, /^To: "Wilma Flintstone" <wilma@flintstone\.com>\r$/m);
  assert.match(message.text, /only to Platinum/);
  const got = await api('GET', `/api/v1/transmissions/${answer.body.results.id}`);
  assert.equal(got.body.results.transmission.description, 'Christmas Campaign Email');
});

test('Retrieve and Delete an unknown transmission: the documented 404', async () => {
  const retrieved = await api('GET', '/api/v1/transmissions/123');
  assert.equal(retrieved.status, 404);
  assert.deepEqual(retrieved.body, {
    errors: [
      { message: 'resource not found', code: '1600', description: 'Resource not found:transmission id 123' },
    ],
  });
  const deleted = await api('DELETE', '/api/v1/transmissions/999999999');
  assert.equal(deleted.status, 404);
  assert.deepEqual(deleted.body.errors[0], {
    message: 'resource not found',
    code: '1600',
    description: 'Resource not found:transmission id 999999999',
  });
});
