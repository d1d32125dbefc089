/**
 * Specifies that a transmission is spooled as SMTP mail is, with its tracking and transactional
 * flags resolved by core's precedence (transmission options, then the key's defaults, then the
 * config) and written into the spooled envelope's facts, which delivery-time tracking reads.
 * Delivery goes nowhere (a closed port, retried in an hour), so the messages stay in the spool.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Spool } from '../../src/queue/spool.js';
import { type ApiCall, apiClient } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { freePort } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;
let admin: ApiCall;

before(async () => {
  sluice = await startSluice({
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${await freePort()}`,
      'delivery.retry_schedule': '["1h"]',
      'tracking.open': false,
      'tracking.click': false,
    },
  });
  const key = await createKey(sluice.dataDir, {
    grants: ['api_keys/manage', 'message_events/view', 'transmissions/modify'],
  });
  admin = apiClient(sluice.httpPort, key.key);
});

after(async () => {
  await sluice?.stop();
});

async function spooledOptions(api: ApiCall, body: object) {
  const sent = await api('POST', '/api/v1/transmissions', body);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  const events = await admin('GET', `/api/v1/events/message?events=injection&per_page=10`);
  const injection = events.body.results.find(
    (e: { transmission_id: string }) => e.transmission_id === sent.body.results.id,
  );
  const message = await new Spool(sluice.dataDir).read(injection.message_id);
  assert.ok(message, 'the message is in the spool');
  assert.equal(message.envelope.facts.recv_method, 'rest');
  return message.envelope.facts.msys.options ?? {};
}

test('message options first, then key defaults, then config; skip_suppression is refused, never passed on', async () => {
  const created = await admin('POST', '/api/v1/api-keys', {
    label: 'tracked app',
    grants: ['transmissions/modify'],
    defaults: { click_tracking: true, transactional: true },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const api = apiClient(sluice.httpPort, created.body.results.key);
  const content = { from: 'app@track.example', subject: 's', html: '<a href="https://x.example/">x</a>' };

  const refused = await api('POST', '/api/v1/transmissions', {
    recipients: [{ address: 'one@track.example' }],
    content,
    options: { skip_suppression: true },
  });
  assert.equal(refused.status, 422, 'not accepted and ignored');
  assert.match(refused.body.errors[0].description, /^options\.skip_suppression:/);
  const asked = await spooledOptions(api, {
    recipients: [{ address: 'one@track.example' }],
    content,
    options: { open_tracking: true, skip_suppression: false },
  });
  assert.equal(asked.open_tracking, true, 'from the transmission');
  assert.equal(asked.click_tracking, true, 'from the key default');
  assert.equal(asked.transactional, true, 'from the key default');
  assert.equal(asked.skip_suppression, undefined);

  const plain = await spooledOptions(api, {
    recipients: [{ address: 'two@track.example' }],
    content,
    options: { click_tracking: false },
  });
  assert.deepEqual(
    { open: plain.open_tracking, click: plain.click_tracking },
    { open: false, click: false },
    'config for open, the transmission for click',
  );
});
