/**
 * Specifies the suppression check in `sluice policy` at the protocol level, with the attributes
 * Postfix sends at RCPT: a recipient on the suppression list gets `REJECT 5.7.1 ...` (whatever the
 * case of the address), others pass; the entry type follows the key's `transactional` default
 * (unauthenticated mail is non-transactional); END-OF-MESSAGE is never refused for it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { KeyService } from '../../src/core/keys.js';
import { Limits } from '../../src/core/limits.js';
import { PolicyService } from '../../src/core/policy.js';
import { addSuppressions } from '../../src/core/suppressions-admin.js';
import { type PolicyServer, startPolicyServer } from '../../src/policy/server.js';
import { EmbeddedCounterStore } from '../../src/store/embedded/counters.js';
import { openStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';

let dir: string;
let stores: Stores;
let keys: KeyService;
let server: PolicyServer;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-policy-supp-'));
  const config = loadConfig({ overrides: [`data_dir=${dir}`] });
  stores = await openStores(config);
  keys = new KeyService(stores.keys);
  const limits = new Limits(
    new EmbeddedCounterStore(),
    { key: [], sender_domain: [], client_address: [] },
    60_000,
  );
  const policy = new PolicyService(
    (id) => keys.get(id),
    limits,
    { refuseUnauthenticated: false },
    stores.suppressions,
  );
  server = await startPolicyServer({
    listen: '127.0.0.1:0',
    config: config.policy,
    policy,
    log: pino({ level: 'silent' }),
  });
  await addSuppressions(stores.suppressions, [
    { recipient: 'gone@example.net', type: 'non_transactional' },
    { recipient: 'receipts-off@example.net', type: 'transactional' },
  ]);
});

after(async () => {
  await server.stop(1000);
  await stores.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One request on a fresh connection; the reply without its blank line. */
async function ask(attributes: Record<string, string>): Promise<string> {
  const socket = net.connect({ port: server.port, host: '127.0.0.1' });
  let buffered = '';
  const reply = new Promise<string>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      if (buffered.includes('\n\n')) resolve(buffered.slice(0, buffered.indexOf('\n\n')));
    });
  });
  socket.write(
    `${Object.entries(attributes)
      .map(([k, v]) => `${k}=${v}\n`)
      .join('')}\n`,
  );
  try {
    return await reply;
  } finally {
    socket.destroy();
  }
}

function rcpt(recipient: string, sasl = '', state = 'RCPT'): Record<string, string> {
  return {
    request: 'smtpd_access_policy',
    protocol_state: state,
    protocol_name: 'ESMTP',
    client_address: '192.0.2.10',
    client_name: 'app.example.com',
    helo_name: 'app.example.com',
    sender: 'news@example.com',
    recipient,
    recipient_count: state === 'RCPT' ? '0' : '1',
    queue_id: '',
    instance: `i-${recipient}-${sasl}-${state}`,
    size: '1000',
    sasl_method: sasl ? 'PLAIN' : '',
    sasl_username: sasl,
  };
}

test('a suppressed recipient gets REJECT 5.7.1 at RCPT; another passes', async () => {
  assert.equal(
    await ask(rcpt('Gone@Example.NET')),
    'action=REJECT 5.7.1 Recipient address <Gone@Example.NET> is on the suppression list',
  );
  assert.equal(await ask(rcpt('here@example.net')), 'action=DUNNO');
});

test('the entry type follows the key default: a transactional key is stopped by transactional entries only', async () => {
  const { record } = await keys.create({
    label: 'receipts',
    grants: ['smtp/inject'],
    defaults: { transactional: true },
  });
  assert.match(await ask(rcpt('receipts-off@example.net', record.id)), /^action=REJECT 5\.7\.1 /);
  assert.equal(await ask(rcpt('gone@example.net', record.id)), 'action=DUNNO');
  // Unauthenticated mail is non-transactional.
  assert.equal(await ask(rcpt('receipts-off@example.net')), 'action=DUNNO');
});

test('END-OF-MESSAGE is not refused for a suppression', async () => {
  assert.equal(await ask(rcpt('gone@example.net', '', 'END-OF-MESSAGE')), 'action=DUNNO');
});
