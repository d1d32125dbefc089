/**
 * JSON the API stores or renders (metadata, substitution_data, list attributes) is bounded in
 * nesting depth as the X-MSYS-API header is: 5,000 levels is a 422 naming the field, never a 500
 * or a RangeError from whatever serializes the value later, and the server goes on answering.
 * Per-recipient data is checked with the recipient: a recipient nested too deep is rejected alone
 * (rcpt_to_errors naming its field), the others are sent. Against the real `sluice serve` binary.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ApiCall, apiClient } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { waitForPort } from '../harness/net.js';
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
    label: 'nesting',
    grants: ['transmissions/modify', 'templates/modify', 'templates/view', 'recipient_lists/manage'],
  });
  api = apiClient(sluice.httpPort, key.key);
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
});

/** `{"a":{"a":…{"a":1}}}` with `levels` objects, written as text (no recursion anywhere). */
function nested(levels: number): string {
  return `${'{"a":'.repeat(levels - 1)}{"a":1}${'}'.repeat(levels - 1)}`;
}

const content = { from: 'app@nesting.example', subject: 's', text: 't' };

/** A request body with `deep` (raw JSON text) placed where `slot` is. */
function body(value: Record<string, unknown>, deep: string): string {
  return JSON.stringify(value).replace('"@DEEP@"', deep);
}

async function stillServing(): Promise<void> {
  const answer = await api('POST', '/api/v1/transmissions', {
    recipients: [{ address: 'after@nesting.example' }],
    content,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

test('5,000 levels of transmission metadata or substitution_data: 422 naming the field', async () => {
  for (const field of ['metadata', 'substitution_data']) {
    const answer = await api(
      'POST',
      '/api/v1/transmissions',
      body({ recipients: [{ address: 'a@nesting.example' }], content, [field]: '@DEEP@' }, nested(5000)),
    );
    assert.equal(answer.status, 422, `${field}: ${JSON.stringify(answer.body)}`);
    assert.match(
      answer.body.errors[0].description,
      new RegExp(`^${field}: nests too deep \\(more than 32 levels\\)`),
    );
  }
  await stillServing();
});

test('32 levels are accepted and kept whole', async () => {
  const answer = await api(
    'POST',
    '/api/v1/transmissions',
    body({ recipients: [{ address: 'ok@nesting.example' }], content, metadata: '@DEEP@' }, nested(32)),
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const over = await api(
    'POST',
    '/api/v1/transmissions',
    body({ recipients: [{ address: 'ok@nesting.example' }], content, metadata: '@DEEP@' }, nested(33)),
  );
  assert.equal(over.status, 422, JSON.stringify(over.body));
});

test('a recipient nested too deep is rejected alone, naming its field; the others are sent', async () => {
  const answer = await api(
    'POST',
    '/api/v1/transmissions',
    body(
      {
        recipients: [
          { address: 'fine@nesting.example' },
          { address: 'deep@nesting.example', metadata: '@DEEP@' },
        ],
        content,
      },
      nested(5000),
    ),
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.results.total_accepted_recipients, 1);
  assert.match(answer.body.results.rcpt_to_errors[0].description, /^recipients\.1\.metadata: nests too deep/);
  const alone = await api(
    'POST',
    '/api/v1/transmissions',
    body(
      { recipients: [{ address: 'deep@nesting.example', substitution_data: '@DEEP@' }], content },
      nested(5000),
    ),
  );
  assert.equal(alone.status, 422, JSON.stringify(alone.body));
  assert.match(alone.body.errors[0].description, /^recipients\.0\.substitution_data: nests too deep/);
});

test('templates preview, recipient lists: the same bound, the same 422', async () => {
  const created = await api('POST', '/api/v1/templates', { id: 'deep-preview', content, published: true });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const preview = await api(
    'POST',
    '/api/v1/templates/deep-preview/preview',
    body({ substitution_data: '@DEEP@' }, nested(5000)),
  );
  assert.equal(preview.status, 422, JSON.stringify(preview.body));
  assert.match(preview.body.errors[0].description, /^substitution_data: nests too deep/);

  const attributes = await api(
    'POST',
    '/api/v1/recipient-lists',
    body(
      { id: 'deep-attributes', attributes: '@DEEP@', recipients: [{ address: 'l@nesting.example' }] },
      nested(5000),
    ),
  );
  assert.equal(attributes.status, 422, JSON.stringify(attributes.body));
  assert.match(attributes.body.errors[0].description, /^attributes: nests too deep/);

  const member = await api(
    'POST',
    '/api/v1/recipient-lists',
    body(
      {
        id: 'deep-member',
        recipients: [
          { address: 'l1@nesting.example' },
          { address: 'l2@nesting.example', metadata: '@DEEP@' },
        ],
      },
      nested(5000),
    ),
  );
  assert.equal(member.status, 200, JSON.stringify(member.body));
  assert.equal(member.body.results.total_accepted_recipients, 1);
  assert.match(member.body.results.rcpt_to_errors[0].description, /^recipients\.1\.metadata: nests too deep/);
  await stillServing();
});
