/**
 * The HTTP door's JSON parser: deep bodies parse (the schema then names the field that is too
 * deep), and no "__proto__" member survives at any depth, so nothing downstream can be tricked
 * into setting a prototype.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_NESTING, nestingOf } from '../../src/core/json-nesting.js';
import { parseJsonText } from '../../src/http/parse-json.js';

test('100,000 levels parse without overflowing the stack, and are measured without recursion', () => {
  const levels = 100_000;
  const value = parseJsonText(`${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);
  assert.equal(nestingOf(value), MAX_NESTING + 1);
  assert.equal(nestingOf(value, levels), levels);
});

test('"__proto__" members are removed at every depth, other members kept', () => {
  const value = parseJsonText(
    '{"__proto__":{"polluted":1},"a":[{"b":{"__proto__":{"polluted":2},"c":3}}],"d":"__proto__"}',
  ) as Record<string, unknown>;
  assert.equal(Object.hasOwn(value, '__proto__'), false);
  const inner = ((value['a'] as unknown[])[0] as Record<string, Record<string, unknown>>)['b']!;
  assert.equal(Object.hasOwn(inner, '__proto__'), false);
  assert.equal(inner['c'], 3);
  assert.equal(value['d'], '__proto__');
  const merged = Object.assign({}, value, inner);
  assert.equal((merged as Record<string, unknown>)['polluted'], undefined);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('malformed JSON still throws SyntaxError (the caller answers 400)', () => {
  assert.throws(() => parseJsonText('{"a":'), SyntaxError);
  assert.throws(() => parseJsonText('\u0000'), SyntaxError);
});

test('nestingOf counts objects and arrays, not scalars', () => {
  assert.equal(nestingOf('x'), 0);
  assert.equal(nestingOf({}), 1);
  assert.equal(nestingOf({ a: [1, { b: null }] }), 3);
});
