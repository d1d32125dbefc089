/**
 * Specifies AuthThrottle, which slows repeated AUTH failures per client address: the first failure
 * waits the base delay, each further one doubles it up to the cap; a success or a quiet period
 * (forgetAfterMs) forgets the address; addresses are independent; and memory is bounded by
 * dropping the oldest address once maxEntries is passed. Time is passed in, never read.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthThrottle } from '../../src/core/auth-throttle.js';

describe('AuthThrottle', () => {
  test('the delay doubles with each failure from one address, up to the cap', () => {
    const throttle = new AuthThrottle(1000, 30_000);
    const delays = Array.from({ length: 8 }, (_, i) => throttle.failed('192.0.2.1', 1_000_000 + i));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  test('the cap defaults to 30 s', () => {
    const throttle = new AuthThrottle(1000);
    let last = 0;
    for (let i = 0; i < 40; i++) last = throttle.failed('192.0.2.1', i);
    assert.equal(last, 30_000);
  });

  test('addresses are counted separately', () => {
    const throttle = new AuthThrottle(100, 10_000);
    assert.equal(throttle.failed('192.0.2.1', 0), 100);
    assert.equal(throttle.failed('192.0.2.1', 1), 200);
    assert.equal(throttle.failed('2001:db8::1', 2), 100);
    assert.equal(throttle.failed('192.0.2.1', 3), 400);
  });

  test('a success forgets the address', () => {
    const throttle = new AuthThrottle(100, 10_000);
    throttle.failed('192.0.2.1', 0);
    throttle.failed('192.0.2.1', 1);
    throttle.succeeded('192.0.2.1');
    assert.equal(throttle.failed('192.0.2.1', 2), 100);
  });

  test('a quiet period of forgetAfterMs since the last failure starts the count again', () => {
    const throttle = new AuthThrottle(100, 10_000, 60_000);
    throttle.failed('192.0.2.1', 0);
    assert.equal(throttle.failed('192.0.2.1', 59_999), 200, 'just inside the window: still counted');
    assert.equal(throttle.failed('192.0.2.1', 59_999 + 60_000), 100, 'a full window later: forgotten');
  });

  test('past maxEntries the oldest address is dropped, the others are kept', () => {
    const throttle = new AuthThrottle(100, 10_000, 60_000, 2);
    throttle.failed('a', 0);
    throttle.failed('b', 1);
    throttle.failed('b', 2);
    throttle.failed('c', 3); // a is the oldest and goes
    assert.equal(throttle.failed('b', 4), 400, 'b is remembered');
    assert.equal(throttle.failed('a', 5), 100, 'a was forgotten');
  });

  test('a failure refreshes an address: the least recently failing one is dropped first', () => {
    const throttle = new AuthThrottle(100, 10_000, 60_000, 2);
    throttle.failed('a', 0);
    throttle.failed('b', 1);
    throttle.failed('a', 2); // a is now newer than b
    throttle.failed('c', 3); // b goes
    assert.equal(throttle.failed('a', 4), 400);
    assert.equal(throttle.failed('b', 5), 100);
  });
});
