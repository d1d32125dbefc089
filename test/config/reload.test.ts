/**
 * Specifies how a reload sorts changed options (src/config/reload.ts): leaf paths are compared
 * (records keyed by data, such as delivery.destinations, as one value); a change the command
 * applies live is "applied", one it reads but applies only at start is "restart" (and its running
 * value is kept in what the command runs with), one it does not read is neither; applyInPlace
 * keeps the identity of every section object, so holders of a section see the new values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { applyInPlace, changedPaths, forReload, planReload } from '../../src/config/reload.js';

const spec = {
  uses: ['listen', 'relay', 'smtp', 'delivery', 'log'],
  live: ['relay', 'smtp', 'delivery', 'log.level'],
  restart: ['smtp.hostname'],
};

test('changed options are sorted into applied, restart and not ours', () => {
  const before = loadConfig({});
  const after = loadConfig({
    overrides: [
      'relay.networks=[10.0.0.0/8]',
      'listen.smtp=127.0.0.1:2626',
      'smtp.hostname=mx.example',
      'smtp.max_recipients=5',
      'auth.service=submission',
      'log.level=debug',
    ],
  });
  assert.deepEqual(planReload(before, after, spec), {
    applied: ['log.level', 'relay.networks', 'smtp.max_recipients'],
    restart: ['listen.smtp', 'smtp.hostname'],
  });
  const next = forReload(before, after, ['listen.smtp', 'smtp.hostname']);
  assert.equal(next.listen.smtp, before.listen.smtp);
  assert.equal(next.smtp.hostname, null);
  assert.equal(next.smtp.max_recipients, 5);
  assert.deepEqual(changedPaths(before, before), []);
});

test('a record keyed by domain names is one value; applyInPlace keeps section objects', () => {
  const before = loadConfig({});
  const after = structuredClone(before);
  after.delivery.destinations = { 'example.com': { max_connections: 2 } };
  assert.deepEqual(changedPaths(before, after), ['delivery.destinations']);
  const smtpSection = before.smtp;
  const next = structuredClone(before);
  next.smtp.max_recipients = 7;
  applyInPlace(before, next);
  assert.equal(before.smtp, smtpSection, 'same object');
  assert.equal(smtpSection.max_recipients, 7);
});

test("serve's spec: every section but auth's and policy's is its business, so none is ignored", async () => {
  const { SERVE_RELOAD } = await import('../../src/serve-reload.js');
  const before = loadConfig({});
  const after = loadConfig({
    overrides: [
      'auth.service=submission',
      'policy.key_cache=5s',
      'console.session_lifetime=10m',
      'smtp.key_cache=1s',
    ],
  });
  assert.deepEqual(planReload(before, after, SERVE_RELOAD), {
    applied: [],
    restart: ['console.session_lifetime', 'smtp.key_cache'],
  });
});
