/**
 * The rule for POST /api/v1/transmissions: every field the schema accepts does something, and what
 * Sluice cannot honour is refused with a 422 naming it, never accepted and ignored. Against the
 * real `sluice serve` binary: each refusal names its field; each accepted field that is not
 * specified elsewhere shows its effect here (amp_html becomes a text/x-amp-html part, name and
 * description are kept on the transmission, skip_suppression false is the truth and accepted, a
 * partly invalid recipient list is answered as SparkPost answers it: code 2000 and rcpt_to_errors).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ApiCall, apiClient } from '../harness/api-client.js';
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
    label: 'fields',
    grants: ['transmissions/modify', 'transmissions/view'],
  });
  api = apiClient(sluice.httpPort, key.key);
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
});

const content = { from: 'app@fields.example', subject: 's', text: 't' };
const recipients = [{ address: 'a@fields.example' }];

test('what Sluice cannot honour is refused with a 422 naming the field', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ options: { skip_suppression: true } }, /^options\.skip_suppression: is not honoured over HTTP/],
    [{ options: { smart_send: true } }, /smart_send/],
    [{ options: { start_time: 'tomorrow' } }, /^options\.start_time:/],
    [{ content: { ab_test_id: 'password_reset' } }, /ab_test_id/],
    [
      { content: { ...content, headers: { To: 'x@y.example' } } },
      /^content\.headers\.To: is written by Sluice/,
    ],
    [
      { content: { ...content, headers: { 'content-type': 'text/html' } } },
      /^content\.headers\.content-type: is written by Sluice/,
    ],
    [
      { content: { template_id: 't', subject: 's' } },
      /^content\.subject: cannot be combined with template_id/,
    ],
    [{ content: { email_rfc822: 'x', html: '<p>' } }, /^content\.html: cannot be combined with email_rfc822/],
    [
      { content: { ...content, use_draft_template: true } },
      /^content\.use_draft_template: goes with template_id/,
    ],
    [{ content: { ...content, from: 'not an address' } }, /^content\.from:/],
    [{ content: { ...content, text: '{{if x}}' } }, /Error while compiling part text/],
    [{ cc: [{ address: 'c@fields.example' }] }, /cc/],
    [{ recipients: { list_id: 'l', extra: 1 } }, /^recipients:/],
    [{ recipients: [] }, /^recipients: must list at least one recipient/],
  ];
  for (const [change, message] of cases) {
    const answer = await api('POST', '/api/v1/transmissions', { recipients, content, ...change });
    assert.equal(answer.status, 422, `${JSON.stringify(change)} → ${JSON.stringify(answer.body)}`);
    assert.match(answer.body.errors[0].description, message, JSON.stringify(change));
  }
});

test('accepted fields take effect: amp_html, name, description, skip_suppression false', async () => {
  const before = sink.messages.length;
  const answer = await api('POST', '/api/v1/transmissions', {
    name: 'Named',
    description: 'Described',
    options: { skip_suppression: false },
    recipients,
    content: {
      ...content,
      html: '<p>html</p>',
      amp_html: '<!doctype html><html ⚡4email><body>amp</body></html>',
    },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  await waitFor(() => sink.messages.length > before, 20_000, 'the delivery');
  assert.match(sink.messages.at(-1)!.text, /Content-Type: text\/x-amp-html; charset=utf-8/);
  const { transmission } = (await api('GET', `/api/v1/transmissions/${answer.body.results.id}`)).body.results;
  assert.equal(transmission.name, 'Named');
  assert.equal(transmission.description, 'Described');
  assert.equal(transmission.state, 'Success');
  assert.equal(transmission.num_generated, 1);
});

test('invalid recipients among valid ones: created, with validation errors (code 2000)', async () => {
  const answer = await api('POST', '/api/v1/transmissions', {
    recipients: [{ address: 'ok@fields.example' }, { address: { name: 'no email' } }],
    content,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.errors, [
    { message: 'transmission created, but with validation errors', code: '2000' },
  ]);
  assert.equal(answer.body.results.total_accepted_recipients, 1);
  assert.equal(answer.body.results.total_rejected_recipients, 1);
  assert.deepEqual(answer.body.results.rcpt_to_errors, [
    {
      message: 'invalid data format/type',
      code: '1300',
      description: 'recipients.1.address: must be an email address or {email, name, header_to}',
    },
  ]);
});
