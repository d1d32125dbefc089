/**
 * Specifies GreetPause, the rule behind smtp.greet_pause: nobody waits by default; with a pause,
 * greet_pause_networks names who waits, and without it every client outside relay.networks does
 * (trusted apps never wait); the early talker's reply is 554 5.5.1. In config, greet_pause is a
 * duration defaulting to 0, and greet_pause_networks without a pause is refused, naming it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { EARLY_TALKER, GreetPause } from '../../src/core/greet-pause.js';
import { RelayPolicy } from '../../src/core/relay-policy.js';

const relay = new RelayPolicy({ networks: ['127.0.0.0/8', '10.0.0.0/8'], require_auth: false });

test('pause 0 (the default): nobody waits, whatever the networks', () => {
  const pause = new GreetPause(0, null, relay);
  for (const ip of ['127.0.0.1', '192.0.2.7', '2001:db8::1']) assert.equal(pause.pauseFor(ip), 0);
});

test('without greet_pause_networks, clients outside relay.networks wait and trusted ones do not', () => {
  const pause = new GreetPause(6000, null, relay);
  assert.equal(pause.pauseFor('192.0.2.7'), 6000);
  assert.equal(pause.pauseFor('2001:db8::1'), 6000);
  assert.equal(pause.pauseFor('10.1.2.3'), 0);
  assert.equal(pause.pauseFor('::ffff:127.0.0.1'), 0, 'an IPv4-mapped trusted client');
});

test('greet_pause_networks names exactly who waits, trusted or not', () => {
  const pause = new GreetPause(300, ['10.9.0.0/16', '2001:db8::/32'], relay);
  assert.equal(pause.pauseFor('10.9.1.1'), 300, 'inside relay.networks, but named');
  assert.equal(pause.pauseFor('2001:db8::5'), 300);
  assert.equal(pause.pauseFor('10.8.1.1'), 0);
  assert.equal(pause.pauseFor('192.0.2.7'), 0, 'outside relay.networks, but not named');
});

test('an early talker gets 554 5.5.1', () => {
  assert.equal(EARLY_TALKER.code, 554);
  assert.equal(EARLY_TALKER.enhanced, '5.5.1');
  assert.ok(EARLY_TALKER.permanent);
});

test('config: greet_pause is 0 by default, a duration otherwise; networks without a pause are refused', () => {
  const defaults = loadConfig({});
  assert.equal(defaults.smtp.greet_pause, 0);
  assert.equal(defaults.smtp.greet_pause_networks, null);
  const set = loadConfig({
    overrides: ['smtp.greet_pause=6s', 'smtp.greet_pause_networks=["192.0.2.0/24"]'],
  });
  assert.equal(set.smtp.greet_pause, 6000);
  assert.deepEqual(set.smtp.greet_pause_networks, ['192.0.2.0/24']);
  assert.throws(
    () => loadConfig({ overrides: ['smtp.greet_pause_networks=["192.0.2.0/24"]'] }),
    (error: unknown) => error instanceof ConfigError && /smtp\.greet_pause_networks/.test(error.message),
  );
});
