/**
 * Specifies parseMsysApi, the one validator of SparkPost's X-MSYS-API header for every door: a
 * valid header becomes typed message options (unknown fields pass through untouched, as SparkPost
 * ignores them), no header is an empty object, and every invalid header is a 550 5.6.0 Rejection
 * whose text names the offending field, so the sender knows what to fix. Byte limits count UTF-8
 * bytes, not characters.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rejection } from '../../src/core/reply.js';
import { MAX_NESTING, parseMsysApi } from '../../src/core/smtpapi.js';

/** `{"k":{"k":…1…}}` with `levels` objects, as JSON text (built as text: JSON.stringify would overflow). */
function nestedObjects(levels: number): string {
  return `${'{"k":'.repeat(levels - 1)}{"k":1}${'}'.repeat(levels - 1)}`;
}

/** Asserts that the header is refused with 550 5.6.0 and that the reply text mentions `field`. */
function refuses(value: unknown, field: string) {
  const header = typeof value === 'string' ? value : JSON.stringify(value);
  assert.throws(
    () => parseMsysApi([header]),
    (error: unknown) => {
      assert.ok(error instanceof Rejection, `expected a Rejection, got ${String(error)}`);
      assert.equal(error.code, 550);
      assert.equal(error.enhanced, '5.6.0');
      assert.ok(error.text.startsWith('X-MSYS-API: '), error.text);
      assert.ok(error.text.includes(field), `"${error.text}" should name ${field}`);
      return true;
    },
  );
}

describe('parseMsysApi: valid headers', () => {
  test('no header gives an empty object', () => {
    assert.deepEqual(parseMsysApi([]), {});
  });

  test('a full header is parsed with every field and its type', () => {
    const value = {
      campaign_id: 'spring-sale',
      metadata: { user_id: 42, plan: 'pro', nested: { a: [1, 2] } },
      tags: ['welcome', 'onboarding'],
      options: {
        open_tracking: true,
        click_tracking: false,
        transactional: true,
        sandbox: false,
        skip_suppression: false,
        inline_css: true,
        ip_pool: 'pool_1.main-a',
      },
    };
    assert.deepEqual(parseMsysApi([JSON.stringify(value)]), value);
  });

  test('an empty object is valid', () => {
    assert.deepEqual(parseMsysApi(['{}']), {});
  });

  test('unknown fields pass through, at the top level and inside options', () => {
    const value = { future_field: { x: 1 }, options: { future_option: 'yes', open_tracking: false } };
    assert.deepEqual(parseMsysApi([JSON.stringify(value)]), value);
  });

  test('campaign_id of exactly 64 UTF-8 bytes is accepted', () => {
    const id = 'é'.repeat(32); // 2 bytes each
    assert.equal(parseMsysApi([JSON.stringify({ campaign_id: id })]).campaign_id, id);
  });

  test('ten tags are accepted; metadata of up to 1000 bytes serialized is accepted', () => {
    const tags = Array.from({ length: 10 }, (_, i) => `t${i}`);
    assert.deepEqual(parseMsysApi([JSON.stringify({ tags })]).tags, tags);
    const metadata = { k: 'v'.repeat(1000 - '{"k":""}'.length) };
    assert.equal(JSON.stringify(metadata).length, 1000);
    assert.deepEqual(parseMsysApi([JSON.stringify({ metadata })]).metadata, metadata);
  });

  test(`nesting of exactly ${MAX_NESTING} levels inside a field is accepted`, () => {
    const parsed = parseMsysApi([`{"metadata":${nestedObjects(MAX_NESTING)}}`]);
    let node: unknown = parsed.metadata;
    let depth = 0;
    while (node !== null && typeof node === 'object') {
      node = (node as { k: unknown }).k;
      depth++;
    }
    assert.equal(depth, MAX_NESTING);
    assert.equal(node, 1);
  });

  test('whitespace and line breaks left by unfolding do not matter', () => {
    assert.deepEqual(parseMsysApi(['{"campaign_id":  "c",\t  "tags": [ "a" ] }']), {
      campaign_id: 'c',
      tags: ['a'],
    });
  });
});

describe('parseMsysApi: every refusal is 550 5.6.0 and names the field', () => {
  test('invalid JSON', () => {
    refuses('{"campaign_id": ', 'invalid JSON');
    refuses('not json at all', 'invalid JSON');
  });

  test('JSON that is not an object', () => {
    refuses('[]', 'must be a JSON object');
    refuses('"text"', 'must be a JSON object');
    refuses('42', 'must be a JSON object');
    refuses('null', 'must be a JSON object');
  });

  test('campaign_id over 64 UTF-8 bytes (33 two-byte characters is 66 bytes)', () => {
    refuses({ campaign_id: 'é'.repeat(33) }, 'campaign_id');
    refuses({ campaign_id: 'x'.repeat(65) }, 'campaign_id');
  });

  test('campaign_id not a string', () => {
    refuses({ campaign_id: 7 }, 'campaign_id');
  });

  test('metadata not an object', () => {
    refuses({ metadata: 'x' }, 'metadata');
    refuses({ metadata: [1, 2] }, 'metadata');
    refuses({ metadata: null }, 'metadata');
  });

  test('metadata over 1000 bytes serialized (counted in UTF-8 bytes)', () => {
    refuses({ metadata: { k: 'v'.repeat(1000) } }, 'metadata');
    refuses({ metadata: { k: 'é'.repeat(500) } }, 'metadata'); // 508 characters, 1008 bytes
  });

  test('tags not an array, more than 10, or not all strings', () => {
    refuses({ tags: 'a,b' }, 'tags');
    refuses({ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags');
    refuses({ tags: ['ok', 3] }, 'tags');
  });

  test('options not an object', () => {
    refuses({ options: 'open_tracking' }, 'options');
  });

  test('a tracking option that is not a boolean', () => {
    refuses({ options: { open_tracking: 'yes' } }, 'options.open_tracking');
    refuses({ options: { click_tracking: 1 } }, 'options.click_tracking');
    refuses({ options: { transactional: 'true' } }, 'options.transactional');
  });

  test('ip_pool outside [A-Za-z0-9_.-]{1,64}', () => {
    refuses({ options: { ip_pool: 'has space' } }, 'options.ip_pool');
    refuses({ options: { ip_pool: '' } }, 'options.ip_pool');
    refuses({ options: { ip_pool: 'p'.repeat(65) } }, 'options.ip_pool');
    refuses({ options: { ip_pool: 42 } }, 'options.ip_pool');
  });

  test(`nesting deeper than ${MAX_NESTING} levels: a permanent refusal naming the field, never a crash`, () => {
    refuses(`{"metadata":${nestedObjects(MAX_NESTING + 1)}}`, 'metadata nests too deep');
    // What the attack sent: 5,000 levels, deep enough to overflow JSON.stringify's stack.
    refuses(`{"metadata":${nestedObjects(5000)}}`, 'metadata nests too deep');
    refuses(`{"metadata":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`, 'metadata nests too deep');
    // Fields SparkPost does not know pass through to events too: the same bound applies there.
    refuses(`{"future":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, 'future nests too deep');
    refuses(`{"options":{"x":${nestedObjects(MAX_NESTING)}}}`, 'options nests too deep');
  });

  test('the header given twice', () => {
    assert.throws(
      () => parseMsysApi(['{}', '{}']),
      (error: unknown) =>
        error instanceof Rejection &&
        error.code === 550 &&
        error.enhanced === '5.6.0' &&
        /more than once/.test(error.text),
    );
  });
});
