/**
 * Specifies what the Deliverer notes per destination for the console (delivery/destination-status.ts):
 * the routed host set, the reply shown (the first deferral or bounce of an attempt, else its first
 * result) with its time, failures in a row counted only while every recipient is deferred, and
 * the least recently attempted domains forgotten past the bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RcptResult } from '../../src/delivery/deliver.js';
import { DestinationStatus } from '../../src/delivery/destination-status.js';

const result = (rcpt: string, status: RcptResult['status'], code: number, text: string): RcptResult => ({
  rcpt,
  status,
  code,
  enhanced: undefined,
  text,
  mxHost: 'mx1.example.net',
});

test('host set, last reply with its time, and failures in a row', () => {
  let now = 1_000;
  const status = new DestinationStatus(100, () => now);
  status.routed('Example.COM', 'mx1.example.net,mx2.example.net:25');
  status.attempted('example.com', [result('a@example.com', 'defer', 451, '451 4.3.0 try later')]);
  now = 2_000;
  status.attempted('example.com', [result('b@example.com', 'defer', 421, '421 4.7.0 slow down')]);
  let state = status.get('EXAMPLE.com')!;
  assert.equal(state.hostSet, 'mx1.example.net,mx2.example.net:25');
  assert.equal(state.failures, 2);
  assert.deepEqual(state.lastReply, {
    status: 'defer',
    code: 421,
    text: '421 4.7.0 slow down',
    mx_host: 'mx1.example.net',
    at: 2_000,
  });
  now = 3_000;
  status.attempted('example.com', [
    result('c@example.com', 'delivered', 250, '250 ok'),
    result('d@example.com', 'bounce', 550, '550 5.1.1 no such user'),
  ]);
  state = status.get('example.com')!;
  assert.equal(state.failures, 0, 'a delivery ends the run of failures');
  assert.equal(state.lastReply?.text, '550 5.1.1 no such user', 'the bounce is what a person needs to see');
  status.attempted('example.com', [result('e@example.com', 'delivered', 250, '250 2.0.0 ok')]);
  assert.equal(status.get('example.com')?.lastReply?.status, 'delivered');
  status.routed('example.com', null);
  assert.equal(status.get('example.com')?.hostSet, null, 'routing failed this time');
  status.attempted('example.com', []);
  assert.equal(status.get('example.com')?.lastReply?.status, 'delivered', 'no results, nothing learnt');
});

test('past the bound the least recently attempted domain is forgotten', () => {
  const status = new DestinationStatus(2);
  status.routed('a.example', 'mx.a:25');
  status.routed('b.example', 'mx.b:25');
  status.routed('a.example', 'mx.a:25');
  status.routed('c.example', 'mx.c:25');
  assert.equal(status.get('b.example'), undefined);
  assert.ok(status.get('a.example'));
  assert.ok(status.get('c.example'));
});
