/** Specifies the tracking precedence shared by every door: X-MSYS-API, then key defaults, then config. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideTracking, isTransactional } from '../../src/core/tracking-decision.js';

const config = { open: false, click: true };

test('the header wins over the key and the config, field by field', () => {
  assert.deepEqual(
    decideTracking(
      { options: { open_tracking: true, click_tracking: false } },
      { open_tracking: false },
      config,
    ),
    { open: true, click: false },
  );
  assert.deepEqual(decideTracking({ options: { open_tracking: true } }, { click_tracking: false }, config), {
    open: true,
    click: false,
  });
});

test('without a header the key decides, and without either the config does', () => {
  assert.deepEqual(decideTracking({}, { open_tracking: true }, config), { open: true, click: true });
  assert.deepEqual(decideTracking({}, {}, config), config);
  assert.deepEqual(decideTracking({}, null, { open: false, click: false }), { open: false, click: false });
});

test('transactional: header, then key, else false', () => {
  assert.equal(isTransactional({ options: { transactional: false } }, { transactional: true }), false);
  assert.equal(isTransactional({}, { transactional: true }), true);
  assert.equal(isTransactional({}, null), false);
});
